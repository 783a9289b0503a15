"""What a checkpoint of a run holds, as state_dict()-style methods (checkpoint.py writes and reads
it): the model's weights under the HF model's own keys, the optimizer, and the trainer's counters
(step, prompts consumed, scheduler)."""
from __future__ import annotations

from typing import Any, Dict

from .. import distributed as D
from .data import DataStream

_TRUNK_PREFIX = "model."  # PolicyTrunk holds the HF model as .model; checkpoints store the HF model's own keys


def hf_keys(state: Dict[str, Any]) -> Dict[str, Any]:
    """A PolicyTrunk state dict under the wrapped HF model's keys (what save_pretrained writes)."""
    return {k[len(_TRUNK_PREFIX):] if k.startswith(_TRUNK_PREFIX) else k: v for k, v in state.items()}


class TrainState:
    """The trunk (possibly DDP / FSDP2-wrapped), its optimizer and scheduler, the data stream and the
    number of RL steps done."""

    def __init__(self, trunk, optimizer, scheduler, stream: DataStream, info: D.DistInfo):
        self.trunk, self.optimizer, self.scheduler, self.stream, self.info = trunk, optimizer, scheduler, stream, info
        self.step = 0

    def state_dict(self) -> Dict[str, Any]:
        """{"model", "optimizer", "trainer"} with full (unsharded) tensors: a collective under FSDP2,
        so every rank calls it."""
        return {
            "model": hf_keys(D.model_state_dict(self.trunk)),
            "optimizer": D.optimizer_state_dict(self.trunk, self.optimizer),
            "trainer": {"step": self.step, "scheduler": self.scheduler.state_dict(),
                        "world_size": self.info.world_size, **self.stream.state_dict()},
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        D.load_model_state_dict(self.trunk, {_TRUNK_PREFIX + k: v for k, v in state["model"].items()})
        D.load_optimizer_state_dict(self.trunk, self.optimizer, state["optimizer"])
        self.scheduler.load_state_dict(state["trainer"]["scheduler"])
        self.stream.load_state_dict(state["trainer"])
        self.step = int(state["trainer"]["step"])


def save_final_model(out_dir: str, trunk, tokenizer, info: D.DistInfo) -> None:
    """<out>/final: the trained model and its tokenizer, save_pretrained (a collective under FSDP2)."""
    import os

    from ..policy import _quiet_progress

    state = D.model_state_dict(trunk)  # full weights
    if info.is_main:
        final = os.path.join(out_dir, "final")
        with _quiet_progress():  # transformers' "Writing model shards" bar would follow the loop's output
            D.unwrap(trunk).model.save_pretrained(final, state_dict=hf_keys(state))
            tokenizer.save_pretrained(final)
    D.barrier()
