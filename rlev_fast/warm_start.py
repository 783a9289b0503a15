"""Supervised warm start of the tiny policy shipped in rlev_fast/assets/tiny_policy/.

    python -m rlev_fast.warm_start [--out rlev_fast/assets/tiny_policy] [--steps N] [--seed 0]

Builds the character-level tokenizer and the tiny Llama-style model (rlev_fast/policy.py), then
imitates reference responses to freshly generated TRAIN exams (generator seed 1000 + seed; every
problem of the default dataset's test split is excluded, so the held-out exam stays unseen). Each
target is, independently of the question's value, either the direct answer ("Answer: 16") or the
worked answer ("7+8=15. 15-5=10. 10+6=16. Answer: 16"), so the warm-started policy sometimes stops early
and sometimes works the steps, and RL can learn when each pays. Finally it saves model and
tokenizer with `save_pretrained` and prints an evaluation on the default test split.

Measured (the shipped checkpoint; its full report is assets/tiny_policy/warm_start_report.json):
- Model: LlamaForCausalLM, hidden 128, 4 layers, 4 heads, SwiGLU 384, vocab 112, untied head:
  881,792 parameters, model.safetensors 3.5 MB (fp32), whole folder 3.4 MiB.
- Time: 1200 steps x 64 sequences (~54 tokens), about 0.2 s a step on the 2-core CPU; the measured
  runs (and a rebuild bit-identical to the shipped weights) are in benchmarks/RESULTS.md, "Warm start".
- Test split of the default dataset (125 questions, 16 held-out exams), exact match after the
  last "Answer:":
                          Acc    H-Acc   direct Acc (n)   worked Acc (n)   v<0.1   v>=0.1   length
    greedy               57.6%   59.9%   46.5% (86)       82.1% (39)       56.6%   63.2%    9.9
    sampled, T=1         48.8%   54.4%   36.5% (74)       66.7% (51)       46.2%   63.2%    12.1
    greedy, forced direct 50.4%  52.6%   arith 71.1%, mc 18.4%                              2.4
    greedy, forced worked 66.4%  69.5%   arith 100%,  mc 14.3%                              23.7
  ("forced": the response is started with "Answer: " or with the first digit of the working.)
  Working the steps makes plain arithmetic exact (100% vs 71% direct), so RL has a clear way to
  raise Acc and H-Acc: answer high-value questions with the working. Multiple choice stays near
  chance (the tiny model has not learned to find the letter of its result in 1200 steps).
- HF `generate` with this model, batch 64 x 40 new tokens, 2 threads: ~7,000-7,800 tokens/s
  (0.33-0.38 s per batch; greedy and sampling).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence

import torch

from .config_checks import check_int, check_number
from .data import Example, default_rows, extract_answer, format_prompt, generate_exams, problem_of
from .policy import ASSET_DIR, build_tiny_model, build_tokenizer, num_parameters


@dataclass
class WarmStartConfig:
    out: str = ASSET_DIR
    steps: int = 1200
    batch_size: int = 64
    lr: float = 3e-3
    warmup: int = 50
    weight_decay: float = 0.01
    worked_fraction: float = 0.5  # share of targets that write the working steps
    mc_fraction: float = 0.4
    seed: int = 0
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 384
    eval_max_new_tokens: int = 40
    threads: int = 0  # 0: torch default

    def __post_init__(self):
        check_int(self, "steps", 0)
        for name in ("batch_size", "hidden_size", "num_layers", "num_heads", "intermediate_size", "eval_max_new_tokens"):
            check_int(self, name)
        for name in ("warmup", "seed", "threads"):
            check_int(self, name, 0)
        check_number(self, "lr", 0.0, strict_lo=True)
        check_number(self, "weight_decay", 0.0)
        check_number(self, "worked_fraction", 0.0, 1.0)
        check_number(self, "mc_fraction", 0.0, 1.0)


class TrainStream:
    """Endless (prompt, target) pairs from generated train exams, never a default-test problem."""

    def __init__(self, cfg: WarmStartConfig, tokenizer, exclude: Sequence[str]):
        self.cfg, self.tok, self.exclude = cfg, tokenizer, set(exclude)
        self.rng = random.Random(f"warm-start-modes-{cfg.seed}")
        self.chunk = 0
        self.buf: List[Dict] = []

    def _refill(self) -> None:
        rows = generate_exams(
            500, seed=1000 + 1000 * self.cfg.seed + self.chunk, mc_fraction=self.cfg.mc_fraction,
            exclude_problems=self.exclude, with_references=True,
        )
        self.chunk += 1
        self.rng.shuffle(rows)
        self.buf.extend(rows)

    def batch(self, n: int):
        while len(self.buf) < n:
            self._refill()
        rows, self.buf = self.buf[:n], self.buf[n:]
        seqs, labels = [], []
        for r in rows:
            target = r["worked"] if self.rng.random() < self.cfg.worked_fraction else r["direct"]
            p = self.tok(r["query"], add_special_tokens=False)["input_ids"]
            t = self.tok(target, add_special_tokens=False)["input_ids"] + [self.tok.eos_token_id]
            seqs.append(p + t)
            labels.append([-100] * len(p) + t)
        T = max(len(s) for s in seqs)
        pad = self.tok.pad_token_id
        ids = torch.full((n, T), pad, dtype=torch.long)
        lab = torch.full((n, T), -100, dtype=torch.long)
        mask = torch.zeros((n, T), dtype=torch.long)
        for i, (s, l) in enumerate(zip(seqs, labels)):  # right padding for training
            ids[i, : len(s)] = torch.tensor(s)
            lab[i, : len(l)] = torch.tensor(l)
            mask[i, : len(s)] = 1
        return ids, mask, lab


@torch.no_grad()
def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 40, do_sample: bool = False,
             temperature: float = 1.0, batch_size: int = 64, seed: int = 0):
    """Responses (text) and their lengths in tokens (EOS included when produced)."""
    model.eval()
    texts, lengths = [], []
    g = torch.Generator().manual_seed(seed)
    for i in range(0, len(prompts), batch_size):
        enc = tokenizer(list(prompts[i: i + batch_size]), return_tensors="pt", padding=True, add_special_tokens=False)
        if do_sample:
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
        out = model.generate(
            **enc, max_new_tokens=max_new_tokens, do_sample=do_sample,
            temperature=temperature if do_sample else None, top_p=None, top_k=None,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        )
        gen = out[:, enc["input_ids"].shape[1]:]
        for row in gen.tolist():
            n = len(row)
            if tokenizer.eos_token_id in row:
                n = row.index(tokenizer.eos_token_id) + 1
            lengths.append(n)
            texts.append(tokenizer.decode(row[:n], skip_special_tokens=True))
    return texts, lengths


def evaluate(model, tokenizer, examples: Sequence[Example], do_sample: bool = False, seed: int = 0,
             max_new_tokens: int = 40, force: Optional[str] = None) -> Dict[str, float]:
    """Acc and H-Acc overall, by mode (direct = the response starts with "Answer:", else worked),
    by value bucket (low v < 0.1, high v >= 0.1) and by kind; mean length. Exact match after the
    last "Answer:". `force`: "direct" starts every response with "Answer: ", "worked" with the
    first character of the problem (synthetic exams only), to measure each mode's accuracy."""
    prompts = [format_prompt(e, tokenizer) for e in examples]
    prefixes = [""] * len(prompts)
    if force == "direct":
        prefixes = ["Answer: "] * len(prompts)
    elif force == "worked":
        prefixes = [problem_of(e.prompt)[0] for e in examples]
    elif force is not None:
        raise ValueError(f"force must be None, 'direct' or 'worked', got {force!r}")
    texts, lengths = generate(model, tokenizer, [p + x for p, x in zip(prompts, prefixes)], max_new_tokens,
                              do_sample=do_sample, seed=seed)
    texts = [x + t for x, t in zip(prefixes, texts)]
    correct = [float(extract_answer(t) == e.answer) for t, e in zip(texts, examples)]
    direct = [t.lstrip().startswith("Answer:") for t in texts]
    values = [e.value for e in examples]

    def acc(sel):
        idx = [i for i in range(len(examples)) if sel(i)]
        return (sum(correct[i] for i in idx) / len(idx) if idx else float("nan")), len(idx)

    out: Dict[str, float] = {}
    out["acc"], out["n"] = acc(lambda i: True)
    out["h_acc"] = sum(c * v for c, v in zip(correct, values)) / sum(values)
    out["mean_length"] = sum(lengths) / len(lengths)
    out["direct_acc"], out["n_direct"] = acc(lambda i: direct[i])
    out["worked_acc"], out["n_worked"] = acc(lambda i: not direct[i])
    out["low_value_acc"], out["n_low"] = acc(lambda i: values[i] < 0.1)
    out["high_value_acc"], out["n_high"] = acc(lambda i: values[i] >= 0.1)
    out["mc_acc"], out["n_mc"] = acc(lambda i: "Answer with a letter" in examples[i].prompt)
    out["arith_acc"], out["n_arith"] = acc(lambda i: "Answer with a letter" not in examples[i].prompt)
    return out


def warm_start(cfg: WarmStartConfig, log_every: int = 100) -> Dict:
    from .data import row_to_example

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    tok = build_tokenizer()
    model = build_tiny_model(
        len(tok), cfg.hidden_size, cfg.num_layers, cfg.num_heads, cfg.intermediate_size,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
        seed=cfg.seed,
    )
    _, test_rows = default_rows(0)
    exclude = [problem_of(r["query"]) for r in test_rows]
    stream = TrainStream(cfg, tok, exclude)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=cfg.weight_decay)

    def lr_at(step):
        if step < cfg.warmup:
            return cfg.lr * (step + 1) / cfg.warmup
        frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))

    model.train()
    t0 = time.perf_counter()
    ema = None
    for step in range(cfg.steps):
        ids, mask, lab = stream.batch(cfg.batch_size)
        for gr in opt.param_groups:
            gr["lr"] = lr_at(step)
        loss = model(input_ids=ids, attention_mask=mask, labels=lab).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1:5d}  loss {ema:.4f}  lr {lr_at(step):.2e}  {time.perf_counter() - t0:6.1f}s", flush=True)
    train_s = time.perf_counter() - t0

    model.eval()
    os.makedirs(cfg.out, exist_ok=True)
    model.save_pretrained(cfg.out, safe_serialization=True)
    tok.save_pretrained(cfg.out)

    test = [row_to_example(r) for r in test_rows]
    t1 = time.perf_counter()
    greedy = evaluate(model, tok, test, do_sample=False, max_new_tokens=cfg.eval_max_new_tokens)
    sampled = evaluate(model, tok, test, do_sample=True, seed=cfg.seed, max_new_tokens=cfg.eval_max_new_tokens)
    forced = {m: evaluate(model, tok, test, force=m, max_new_tokens=cfg.eval_max_new_tokens) for m in ("direct", "worked")}
    eval_s = time.perf_counter() - t1
    report = {
        "config": asdict(cfg),
        "params": num_parameters(model),
        "train_seconds": round(train_s, 1),
        "eval_seconds": round(eval_s, 1),
        "test_greedy": greedy,
        "test_sampled_t1": sampled,
        "test_greedy_forced_direct": forced["direct"],
        "test_greedy_forced_worked": forced["worked"],
    }
    with open(os.path.join(cfg.out, "warm_start_report.json"), "w") as f:
        json.dump(report, f, indent=1)
    return report


def main(argv: Optional[Sequence[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    d = WarmStartConfig()
    ap.add_argument("--out", default=d.out, help="folder for config.json, model.safetensors, tokenizer files")
    ap.add_argument("--steps", type=int, default=d.steps, help="optimizer steps")
    ap.add_argument("--batch-size", type=int, default=d.batch_size, help="sequences per step")
    ap.add_argument("--lr", type=float, default=d.lr, help="peak AdamW learning rate (cosine decay)")
    ap.add_argument("--worked-fraction", type=float, default=d.worked_fraction,
                    help="share of targets with working steps (the rest answer directly)")
    ap.add_argument("--seed", type=int, default=d.seed, help="seed of init, data and modes")
    ap.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (0: default)")
    a = ap.parse_args(argv)
    try:
        cfg = WarmStartConfig(out=a.out, steps=a.steps, batch_size=a.batch_size, lr=a.lr,
                              worked_fraction=a.worked_fraction, seed=a.seed, threads=a.threads)
    except ValueError as e:
        ap.error(str(e))  # exit 2 with the usage line, no traceback
    t0 = time.perf_counter()
    rep = warm_start(cfg)
    print(json.dumps({k: v for k, v in rep.items() if k != "config"}, indent=1))
    print(f"total {time.perf_counter() - t0:.1f}s; saved to {cfg.out}")


if __name__ == "__main__":
    main()
