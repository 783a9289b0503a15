"""RLEV JSONL -> verl's parquet, with the value in extra_info.

    python -m rlev_fast.integrations.verl_data train.jsonl train.parquet
    python -m rlev_fast.integrations.verl_data --embedded train exam_train.parquet   # the embedded exam

Input: any format `rlev_fast.data.read_jsonl` reads ({query, label, score, total} as released, {prompt,
answer, value}, {prompt, answer, score, total}); a bad row is an error naming the file and line, and
nothing is written. Output rows, in the layout of verl's RLHFDataset and reward managers:

    data_source   --data-source (default "rlev")
    prompt        chat messages: [{"role": "user", "content": prompt}]; a prompt that is already
                  chat-templated in ChatML (Qwen, as in RLEV's release) is split back into its turns,
                  since verl applies the model's chat template itself
    ability       --ability (default "math")
    reward_model  {"style": "rule", "ground_truth": answer}
    extra_info    {"split", "index", "value", "score", "total", "exam_id"}: what compute_score reads

The file is written to a temporary name beside the target, then renamed: an interrupted run leaves no
half-written parquet. Needs pyarrow (installed with verl).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from typing import Any, Dict, List, Sequence

from ..data import DataError, Example, default_dataset

CHATML_TURN = re.compile(r"<\|im_start\|>(system|user|assistant)\n(.*?)<\|im_end\|>\s*", re.S)
CHATML_GENERATION_PROMPT = re.compile(r"<\|im_start\|>assistant\n?\s*\Z")


def prompt_messages(ex: Example, where: str) -> List[Dict[str, str]]:
    """The prompt as chat messages (see the module docstring); DataError for a template other than ChatML."""
    if not ex.templated:
        return [{"role": "user", "content": ex.prompt}]
    text = ex.prompt
    messages, pos = [], 0
    for m in CHATML_TURN.finditer(text):
        if m.start() != pos:
            break
        messages.append({"role": m.group(1), "content": m.group(2)})
        pos = m.end()
    rest = text[pos:]
    if not messages or not CHATML_GENERATION_PROMPT.match(rest) or messages[-1]["role"] != "user":
        raise DataError(f"{where}: the prompt is chat-templated, but not as ChatML turns ending in the assistant's "
                        f"generation prompt (<|im_start|>assistant); verl applies the model's chat template itself, "
                        f"so give this row as a plain prompt ({{prompt, answer, value}})")
    return messages


def verl_rows(examples: Sequence[Example], data_source: str = "rlev", split: str = "train",
              ability: str = "math", where: str = "row") -> List[Dict[str, Any]]:
    return [{
        "data_source": data_source,
        "prompt": prompt_messages(ex, f"{where} {i + 1}"),
        "ability": ability,
        "reward_model": {"style": "rule", "ground_truth": ex.answer},
        "extra_info": {"split": split, "index": i, "value": float(ex.value),
                       "score": None if ex.score is None else float(ex.score),
                       "total": None if ex.total is None else float(ex.total), "exam_id": ex.exam_id},
    } for i, ex in enumerate(examples)]


def write_parquet(rows: List[Dict[str, Any]], path: str) -> None:
    """rows -> parquet at `path`, atomically (a temporary file in the same folder, then os.replace)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise SystemExit(f"writing parquet needs pyarrow: pip install pyarrow ({exc})") from None
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=folder)
    os.close(fd)
    try:
        pq.write_table(pa.Table.from_pylist(rows), tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def convert(src: str, dst: str, data_source: str = "rlev", split: str = "train", ability: str = "math") -> int:
    """RLEV JSONL file `src` -> verl parquet `dst`; returns the number of rows."""
    from ..data_jsonl import read_jsonl

    rows = verl_rows(read_jsonl(src), data_source, split, ability, where=f"{src} row")
    write_parquet(rows, dst)
    return len(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m rlev_fast.integrations.verl_data", description=__doc__.split("\n")[0])
    p.add_argument("paths", nargs="+", metavar="PATH", help="in.jsonl out.parquet (or only out.parquet with --embedded)")
    p.add_argument("--embedded", choices=["train", "test"], default=None,
                   help="convert the embedded synthetic exam's split instead of a JSONL file")
    p.add_argument("--data-source", default="rlev", help="the data_source column (verl routes rewards by it)")
    p.add_argument("--split", default=None, help="extra_info.split (default: --embedded's split, else train)")
    p.add_argument("--ability", default="math")
    args = p.parse_args(argv)
    want = 1 if args.embedded else 2
    if len(args.paths) != want:
        p.error("give in.jsonl out.parquet" if want == 2 else "with --embedded give only out.parquet")
    try:
        if args.embedded:
            train, test = default_dataset(0)
            rows = verl_rows(train if args.embedded == "train" else test, args.data_source,
                             args.split or args.embedded, args.ability)
            write_parquet(rows, args.paths[0])
            n, dst = len(rows), args.paths[0]
        else:
            n, dst = convert(args.paths[0], args.paths[1], args.data_source, args.split or "train", args.ability), \
                args.paths[1]
    except (DataError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {n} rows to {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
