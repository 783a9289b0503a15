"""RLEV with TRL: RLEVGRPOTrainer on the embedded exam with the shipped tiny policy (CPU is enough).

    pip install torch==2.13.0 && pip install -e . && pip install "trl==1.16.0"
    python examples/trl_rlev.py --max-steps 2 --output-dir /tmp/trl_rlev

Each step samples --num-generations completions for each of --prompts-per-step exam questions, rewards
a correct answer (rlev_fast's verifier) with s(x) = 1 + min(10 v(x), 1), computes value-preserving GRPO
advantages and the loss with rlev_fast's fused policy loss from the final hidden states. TRL writes its
log (loss, rewards, rlev/* metrics with the EOS statistics by value bucket) to the output directory's
trainer_state.json; the trained model is saved to --output-dir/final. --data trains on an RLEV JSONL
file instead ({query, label, score, total} rows, or {prompt, answer, value}).
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--max-steps", type=int, default=20, help="optimizer steps")
    p.add_argument("--output-dir", required=True, help="where TRL writes its state and the final model")
    p.add_argument("--data", default=None, help="RLEV JSONL file (default: the embedded exam's training split)")
    p.add_argument("--model", default=None, help="model folder or hub id (default: the shipped tiny policy)")
    p.add_argument("--prompts-per-step", type=int, default=8)
    p.add_argument("--num-generations", type=int, default=4)
    p.add_argument("--max-completion-length", type=int, default=32)
    p.add_argument("--estimator", default="grpo", help="advantage estimator (rlev_fast.advantages.ESTIMATORS)")
    p.add_argument("--alpha", type=float, default=10.0, help="s(x) = 1 + min(alpha v, 1)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    try:
        import datasets
        import torch
        from trl import GRPOConfig
    except ImportError as exc:
        sys.exit(f"examples/trl_rlev.py needs trl and datasets: pip install 'trl==1.16.0' ({exc})")
    from rlev_fast.data import default_dataset, read_jsonl
    from rlev_fast.integrations.trl import RLEVGRPOTrainer, rows_for_trl
    from rlev_fast.policy import load_default_policy, load_policy

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model, tok = load_policy(args.model) if args.model else load_default_policy()
    examples = read_jsonl(args.data) if args.data else default_dataset(args.seed)[0]
    chat = bool(getattr(tok, "chat_template", None))
    train = datasets.Dataset.from_list(rows_for_trl(examples, conversational=chat))
    config = GRPOConfig(
        output_dir=args.output_dir, max_steps=args.max_steps, seed=args.seed, learning_rate=args.lr,
        per_device_train_batch_size=args.prompts_per_step * args.num_generations,
        num_generations=args.num_generations, max_completion_length=args.max_completion_length,
        temperature=1.0, beta=0.0, loss_type="grpo", use_cpu=not torch.cuda.is_available(), bf16=False,
        gradient_checkpointing=False,  # TRL 1.x turns it on; off is faster for a small model
        report_to=[], logging_steps=1, save_strategy="no", disable_tqdm=True,
    )
    trainer = RLEVGRPOTrainer(model=model, args=config, train_dataset=train, processing_class=tok,
                              alpha=args.alpha, estimator=args.estimator)
    trainer.train()
    final = os.path.join(args.output_dir, "final")
    trainer.save_model(final)
    trainer.state.save_to_json(os.path.join(args.output_dir, "trainer_state.json"))
    for row in trainer.state.log_history:
        if "loss" in row:
            keys = ("step", "loss", "rlev/reward", "rlev/acc", "rlev/h_acc", "completions/mean_length")
            print(json.dumps({k: row[k] for k in keys if k in row}))
    print(f"model saved to {final}")


if __name__ == "__main__":
    main()
