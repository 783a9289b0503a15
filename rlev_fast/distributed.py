"""Scale-out helpers: process group setup under torchrun, DDP / FSDP2 wrapping, collectives, and
full (unsharded) state dicts for checkpoints and for pushing weights to a rollout engine.

One process per device. The global batch of prompts is split evenly across ranks; the trainer
all-gathers rewards (so batch-level advantages such as REINFORCE++ whitening see the whole batch)
and all-reduces the response-token count (so token-mean is over the global batch). DDP averages
gradients over ranks, so each rank's loss is multiplied by the world size: the sum of the ranks'
losses is then exactly the single-process loss on the same global batch.

Without torchrun (no WORLD_SIZE in the environment) everything here is a no-op on one process.
"""
from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import Any, Iterable, List, Tuple

import torch
import torch.distributed as dist
import torch.nn as nn

DIST_MODES = ("auto", "none", "ddp", "fsdp2")


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    mode: str = "none"  # none | ddp | fsdp2

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1 or dist.is_initialized()


def init_distributed(mode: str = "auto", device_type: str = "cpu") -> DistInfo:
    """Initializes the default process group when launched by torchrun (WORLD_SIZE set).

    mode "auto": ddp under torchrun with more than one process, none otherwise. The backend is nccl
    on CUDA, gloo on CPU.
    """
    if mode not in DIST_MODES:
        raise ValueError(f"dist mode must be one of {DIST_MODES}, got {mode!r}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and mode in ("auto", "none"):
        return DistInfo()
    if "RANK" not in os.environ:
        raise RuntimeError(f"--dist {mode} needs a torchrun launch (RANK / WORLD_SIZE in the environment)")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if mode == "none":
        raise ValueError("--dist none was given but torchrun started several processes")
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
        global _OWN_GROUP
        _OWN_GROUP = True
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, mode="ddp" if mode == "auto" else mode)


_OWN_GROUP = False  # the default process group is the trainer's (init_distributed made it)


def dist_is_on() -> bool:
    return dist.is_available() and dist.is_initialized()


def cleanup() -> None:
    """Leave together: a rank that destroys its process group while another is still in a collective
    or writing its results aborted now and then at exit with gloo ("terminate called without an
    active exception", SIGABRT, about 1 run in 4 of the 2-process test before this barrier).

    Only a group the trainer created: one that a library made in this process (vLLM's in-process
    engine sets up its own world-size-1 group) is that library's to tear down ("Invalid process
    group specified" otherwise)."""
    global _OWN_GROUP
    if _OWN_GROUP and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    _OWN_GROUP = False


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def all_reduce_max(x: torch.Tensor) -> torch.Tensor:
    """Element-wise max over ranks: e.g. the number of micro-batches every rank must run, so that
    DDP / FSDP2 see the same number of forward / backward passes (and collectives) on each."""
    if dist.is_initialized():
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.MAX)
    return x


def all_gather_cat(x: torch.Tensor) -> torch.Tensor:
    """Concatenation over ranks along dim 0 (equal shapes on every rank)."""
    if not dist.is_initialized():
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


def all_gather_objects(obj: Any) -> List[Any]:
    if not dist.is_initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def wrap_model(module: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """DDP, or FSDP2 (`fully_shard` on every decoder layer, then on the root), or the module as is."""
    if info.mode == "none" or not dist.is_initialized():
        return module
    if info.mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index if device.index is not None else info.local_rank] if device.type == "cuda" else None
        return DDP(module, device_ids=ids)
    from torch.distributed.fsdp import fully_shard

    layers = _decoder_layers(module)
    for layer in layers:
        fully_shard(layer)
    fully_shard(module)
    return module


def _decoder_layers(module: nn.Module) -> List[nn.Module]:
    """The repeated transformer blocks (an nn.ModuleList named `layers` / `h` / `blocks`)."""
    for name, sub in module.named_modules():
        if isinstance(sub, nn.ModuleList) and name.split(".")[-1] in ("layers", "h", "blocks") and len(sub) > 0:
            return list(sub)
    return []


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if hasattr(module, "module") and isinstance(getattr(module, "module"), nn.Module) else module


def _is_fsdp2(model: nn.Module) -> bool:
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:
        return False
    return isinstance(model, FSDPModule) or any(isinstance(m, FSDPModule) for m in model.modules())


def model_state_dict(model: nn.Module) -> dict:
    """Full (unsharded) CPU state dict on every rank, for DDP, FSDP2 or a plain module."""
    model = unwrap(model)
    if _is_fsdp2(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def load_model_state_dict(model: nn.Module, state: dict) -> None:
    model = unwrap(model)
    if _is_fsdp2(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True))
        return
    model.load_state_dict(state)


def optimizer_state_dict(model: nn.Module, optimizer) -> dict:
    model = unwrap(model)
    if _is_fsdp2(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        return get_optimizer_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return optimizer.state_dict()


def load_optimizer_state_dict(model: nn.Module, optimizer, state: dict) -> None:
    model = unwrap(model)
    if _is_fsdp2(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))
        return
    optimizer.load_state_dict(state)


@contextlib.contextmanager
def unsharded(root: "nn.Module | None"):
    """Under FSDP2: every parameter gathered for the duration (and kept gathered across forwards),
    so that code calling the inner HF model directly (model.generate in rollouts and evaluation) sees
    plain full tensors and runs no collective, whatever the number of calls on each rank. A no-op
    for DDP and single-process models."""
    if root is None or not _is_fsdp2(root):
        yield
        return
    from torch.distributed.fsdp import FSDPModule

    mods = [m for m in root.modules() if isinstance(m, FSDPModule)]
    for m in mods:
        m.set_reshard_after_forward(False, recurse=False)
        m.unshard()
    try:
        yield
    finally:
        for m in mods:
            m.reshard()
            # FSDP2's default: the root keeps its parameters after forward (backward needs them at
            # once; the trainer uses the lm_head weight right after the forward), the others reshard.
            m.set_reshard_after_forward(m is not root, recurse=False)


def full_state_dict_items(model: nn.Module) -> Iterable[Tuple[str, torch.Tensor]]:
    """(name, full tensor) pairs of the policy's weights, for loading into a rollout engine."""
    model = unwrap(model)
    inner = getattr(model, "model", model)  # the trainer's trunk wraps the HF model as .model
    if _is_fsdp2(model):
        state = model_state_dict(model)
        prefix = "model." if inner is not model else ""
        return [(k[len(prefix):] if k.startswith(prefix) else k, v) for k, v in state.items()]
    return list(inner.state_dict().items())
