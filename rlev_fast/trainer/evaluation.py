"""Held-out evaluation (greedy decoding, the paper's metrics) and the before / after table."""
from __future__ import annotations

import math
from typing import Dict, List, Optional

from .. import distributed as D
from ..metrics import summarize
from ..verify import verify_batch


def evaluate(rollout, examples, prompts: List[str], batch_size: int, max_new_tokens: int, info: D.DistInfo) -> Dict:
    """Greedy decoding on the held-out questions (sharded over ranks): the paper's metrics."""
    idx = list(range(info.rank, len(examples), info.world_size))
    local = []
    for s in range(0, len(idx), batch_size):
        chunk = idx[s : s + batch_size]
        ro = rollout.generate([prompts[i] for i in chunk], greedy=True, max_new_tokens=max_new_tokens)
        correct = verify_batch(ro.texts, [examples[i].answer for i in chunk])
        local.extend(zip(chunk, correct, ro.response_lengths.tolist()))
    rows = sorted(r for part in D.all_gather_objects(local) for r in part)
    values = [examples[i].value for i, _, _ in rows]
    correct = [float(c) for _, c, _ in rows]
    lengths = [float(n) for _, _, n in rows]
    out = summarize(values, correct, lengths)
    out["n"] = len(rows)
    return out


def fmt(x, pct: bool = False, nd: int = 1) -> str:
    """A metric for a table or progress bar: '-' when missing, percent when `pct`."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{100 * x:.{nd}f}" if pct else f"{x:.{nd}f}"


TABLE_ROWS = (  # label, key in the evaluation dict, shown in percent, decimals
    ("Acc (%)", "acc", True, 1),
    ("H-Acc (%)", "h_acc", True, 1),
    ("mean length (tokens)", "mean_length", False, 1),
    ("value density (H-Acc% / token)", "value_density", False, 2),
    ("top-20% value: Acc (%)", "top_acc", True, 1),
    ("top-20% value: length", "top_length", False, 1),
    ("bottom-20% value: Acc (%)", "bottom_acc", True, 1),
    ("bottom-20% value: length", "bottom_length", False, 1),
)


def format_table(before: Optional[Dict], after: Optional[Dict], n: int) -> str:
    """The before / after table on the held-out split (Acc and H-Acc in %)."""
    head = f"held-out split, {n} questions, greedy"
    lines = [f"{head:<34} {'before':>9} {'after':>9} {'change':>9}"]
    for label, key, pct, nd in TABLE_ROWS:
        b = before.get(key) if before else None
        a = after.get(key) if after else None
        d = (a - b) if (a is not None and b is not None) else None
        lines.append(f"{label:<34} {fmt(b, pct, nd):>9} {fmt(a, pct, nd):>9} {('+' if d and d > 0 else '') + fmt(d, pct, nd):>9}")
    return "\n".join(lines)
