"""Scale-out: a 2-process gloo DDP (and FSDP2) update gives the same losses and weights as 1 process
on the same global batch (CPU, torchrun), packed (the default) or padded, and with a token budget
under which the two processes need different numbers of micro-batches (they agree on the larger).
The worker half of this file runs under torchrun."""
import json
import os
import subprocess
import sys

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def make_tiny_model_dir(path: str) -> str:
    from rlev_fast.policy import build_tiny_model, build_tokenizer

    tok = build_tokenizer()
    model = build_tiny_model(len(tok), hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                             bos_token_id=tok.bos_token_id, seed=0)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def fixed_batch(tok, num_prompts: int, n: int, seed: int = 0):
    """A deterministic rollout batch (random responses, some ending in EOS) and its advantages."""
    from rlev_fast.rollout import assemble_batch, encode_prompts

    g = torch.Generator().manual_seed(seed)
    prompts = [f"Q ({i + 1} of 50 points): {10 + i}+{20 + 3 * i}-7 = ?" for i in range(num_prompts)]
    ids, mask = encode_prompts(tok, prompts, "cpu")
    ids, mask = ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
    responses = []
    for i in range(ids.shape[0]):
        L = int(torch.randint(3, 12, (1,), generator=g))
        r = torch.randint(5, len(tok), (L,), generator=g).tolist()
        if i % 3:
            r.append(tok.eos_token_id)
        responses.append(r)
    batch = assemble_batch(ids, mask, responses, tok.eos_token_id, tok.pad_token_id, tok, n)
    adv = torch.randn(ids.shape[0], generator=g)
    return batch, adv


def run_update(model_dir: str, out_json: str, mini_batches: int, grad_accum: int, ppo_epochs: int, mode: str = "auto",
               packing: str = "auto", budget: int = 16384):
    """One RL step's updates on the fixed global batch; under torchrun each rank takes its slice."""
    import rlev_fast.distributed as D
    from rlev_fast.loss import PolicyLossConfig
    from rlev_fast.policy import load_policy
    from rlev_fast.trainer import AlgoConfig, OptimConfig, TrainConfig, rl_update
    from rlev_fast.trainer.runtime import make_scheduler
    from rlev_fast.trainer.trunk import PolicyTrunk
    from rlev_fast.rollout import RolloutConfig

    info = D.init_distributed(mode, "cpu")
    torch.manual_seed(0)
    model, tok = load_policy(model_dir, "cpu", torch.float32)
    model.train()
    num_prompts, n = 4, 4
    batch, adv = fixed_batch(tok, num_prompts, n)
    S = batch.num_sequences
    per = S // info.world_size
    rows = list(range(info.rank * per, (info.rank + 1) * per))
    local = batch.select(rows)
    cfg = TrainConfig(
        rollout=RolloutConfig(n=n),
        algo=AlgoConfig(prompts_per_step=num_prompts, mini_batches=mini_batches, grad_accum=grad_accum,
                        ppo_epochs=ppo_epochs, loss_backend="chunked", packing=packing,
                        max_tokens_per_micro_batch=budget),
        loss=PolicyLossConfig(compute_entropy=True),
        optim=OptimConfig(lr=1e-3, grad_clip=1.0),
    )
    trunk = D.wrap_model(PolicyTrunk(model, packing), info, torch.device("cpu"))
    opt = torch.optim.AdamW(trunk.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.0)
    sched = make_scheduler(opt, cfg.optim, 10)
    upd = rl_update(trunk, local, adv[rows], opt, sched, cfg, info)
    state = D.model_state_dict(trunk)  # full tensors (a collective under FSDP2)
    if info.is_main:
        params = {k: v.detach().double().sum().item() for k, v in state.items()}
        with open(out_json, "w") as f:
            json.dump({"losses": upd["losses"], "grad_norm": upd["grad_norm"], "params": params,
                       "world": info.world_size, "packed": D.unwrap(trunk).packed}, f)
    D.cleanup()


ARGS = ["--mini-batches", "2", "--grad-accum", "2", "--ppo-epochs", "2"]


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model_dir(str(tmp_path_factory.mktemp("tiny_ddp")))


@pytest.fixture(scope="module")
def single(model_dir, tmp_path_factory):
    """The 1-process reference on the whole global batch."""
    one = tmp_path_factory.mktemp("one") / "one.json"
    worker = [os.path.join(HERE, "test_distributed.py"), "--worker", model_dir]
    subprocess.run([sys.executable, *worker, str(one), *ARGS], check=True, env=_env(), cwd=ROOT, timeout=300)
    return json.loads(one.read_text())


def budget_with_unequal_counts(model_dir, mini_batches=2, grad_accum=2):
    """A token budget under which rank 0 and rank 1 of the 2-process run need different numbers of
    micro-batches for some mini-batch (so the agreement on the larger count is exercised)."""
    from rlev_fast.micro_batches import needed_micro_batches
    from rlev_fast.packing import prompt_lengths
    from rlev_fast.policy import load_policy

    _, tok = load_policy(model_dir)
    batch, _ = fixed_batch(tok, 4, 4)
    plens, lens = prompt_lengths(batch), batch.response_lengths.tolist()
    longest = max(p + L - 1 for p, L in zip(plens, lens))
    for budget in range(longest, 400):
        need = [[needed_micro_batches(list(range(rank * 8 + m, rank * 8 + 8, mini_batches)), plens, lens, 4, True,
                                      budget, grad_accum) for m in range(mini_batches)] for rank in range(2)]
        if need[0] != need[1]:
            return budget, need
    raise AssertionError("no budget gives the two processes different micro-batch counts")


@pytest.mark.parametrize("mode,packing,budget", [("ddp", "auto", "16384"), ("fsdp2", "auto", "16384"),
                                                 ("ddp", "off", "16384"), ("ddp", "auto", "unequal"),
                                                 ("fsdp2", "auto", "unequal")])
def test_two_process_gloo_matches_one_process(model_dir, single, tmp_path, mode, packing, budget):
    # mini_batches=2 x grad_accum=2, 2 PPO epochs: exercises the global token count, no_sync
    # accumulation, the loss x world scaling and the recomputed old log-probs.
    if budget == "unequal":
        budget, need = budget_with_unequal_counts(model_dir)
        budget = str(budget)
    args = ARGS + ["--dist", mode, "--packing", packing, "--budget", budget]
    two = tmp_path / "two.json"
    env = _env()
    worker = [os.path.join(HERE, "test_distributed.py"), "--worker", model_dir]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "0",
           "--rdzv_backend", "c10d", "--rdzv_endpoint", "localhost:0", *worker, str(two), *args]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, timeout=300, capture_output=True, text=True)
    if proc.returncode != 0:
        # The launcher failed once in ~10 full-suite runs on the 2-core CI machine and never when
        # rerun; one retry keeps CI green on a launcher hiccup, a real failure fails twice.
        import warnings

        log = tmp_path / "first_attempt.stderr"
        log.write_text(proc.stderr)
        errors = [ln for ln in proc.stderr.splitlines() if "Error" in ln or "error" in ln][-8:]
        warnings.warn(f"torchrun failed once (exit {proc.returncode}), retrying; full stderr in {log}; "
                      f"error lines: {errors}")
        proc = subprocess.run(cmd, env=env, cwd=ROOT, timeout=300, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = single, json.loads(two.read_text())
    assert a["world"] == 1 and b["world"] == 2
    assert a["packed"] and b["packed"] == (packing == "auto")
    assert len(a["losses"]) == len(b["losses"]) == 4  # 2 epochs x 2 mini-batches
    for la, lb in zip(a["losses"], b["losses"]):
        assert lb == pytest.approx(la, rel=1e-5, abs=1e-7)
    assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)
    for k, v in a["params"].items():
        assert b["params"][k] == pytest.approx(v, rel=1e-5, abs=1e-5), k


if __name__ == "__main__" and "--worker" in sys.argv:
    i = sys.argv.index("--worker")
    model_dir_arg, out_arg = sys.argv[i + 1], sys.argv[i + 2]
    rest = sys.argv[i + 3 :]
    opts = dict(zip(rest[::2], rest[1::2]))
    run_update(model_dir_arg, out_arg, int(opts.get("--mini-batches", 1)), int(opts.get("--grad-accum", 1)),
               int(opts.get("--ppo-epochs", 1)), opts.get("--dist", "auto"), opts.get("--packing", "auto"),
               int(opts.get("--budget", 16384)))
