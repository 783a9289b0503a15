"""Reading and writing exam data as JSONL, with errors that name the file and the line.

Formats accepted by `read_jsonl` (one JSON object per line, blank lines skipped):
    {"query", "label", "score", "total"}   RLEV release; v = score / total
    {"prompt", "answer", "score", "total"} v = score / total
    {"prompt", "answer", "value"}          v in [0, 1]
Optional fields: "exam_id"; "templated" (bool) overrides the chat-template detection of prompts.
Files are UTF-8 (a leading byte-order mark is skipped). Refused, with the file and line: other
encodings and compressed files (with the likely cause), duplicate keys, NaN / Infinity and float
literals beyond the float range anywhere in a row, integers over Python's int-string limit, a
score / total too large for a float, nesting deeper than the JSON parser reads, and labels that no
answer can match under rlev_fast.verify (`unmatchable_label`: "$$", "\\boxed{}", ".").
"""
from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .data import DataError, Example


_TEMPLATE_MARKERS = (
    "<|im_start|>", "<|start_header_id|>", "<|begin_of_text|>", "[INST]", "<|user|>",
    "<start_of_turn>", "<｜User｜>", "<|User|>", "<|endoftext|>", "<|assistant|>",
)


def looks_templated(prompt: str) -> bool:
    """True when a prompt already carries a chat template (Qwen, Llama 3, Mistral, Gemma, ...)."""
    if "<" not in prompt and "[" not in prompt:  # every marker starts with one of them
        return False
    return any(m in prompt for m in _TEMPLATE_MARKERS)


def _show(s: str, limit: int = 60) -> str:
    """A field value for an error message: quoted, cut to `limit` characters, escaped when it holds
    characters that do not print (newlines, controls, zero-width spaces)."""
    cut = s if len(s) <= limit else s[: limit - 3] + "..."
    return f"'{cut}'" if cut.isprintable() else repr(cut)


def _brief(v: Any, limit: int = 30) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _digits(x: int) -> int:
    return len(str(abs(x))) if abs(x) < 10 ** 4000 else int(abs(x).bit_length() * 0.30103) + 1


def _number(row: Dict[str, Any], key: str, where: str) -> float:
    x = row[key]
    if isinstance(x, bool):
        raise DataError(f"{where}: field '{key}' must be a number, got {x!r}")
    if isinstance(x, str):
        try:
            x = float(x.strip())
        except ValueError:
            raise DataError(f"{where}: field '{key}' must be a number, got {_show(row[key])}") from None
        if math.isinf(x) and "inf" not in row[key].lower():
            raise DataError(f"{where}: field '{key}' must be finite, got {_show(row[key].strip(), 40)} "
                            "(too large for a float)")
    if not isinstance(x, (int, float)):
        raise DataError(f"{where}: field '{key}' must be a number, got {type(x).__name__}")
    try:
        x = float(x)
    except OverflowError:  # an int beyond the float range (JSON 1e309 and up are refused when parsed)
        raise DataError(f"{where}: field '{key}' has {_digits(x)} digits: not a usable number") from None
    if not math.isfinite(x):
        raise DataError(f"{where}: field '{key}' must be finite, got {x}")
    return x


def _text(row: Dict[str, Any], key: str, where: str) -> str:
    x = row[key]
    if isinstance(x, bool) or not isinstance(x, (str, int, float)):
        raise DataError(f"{where}: field '{key}' must be a string, got {type(x).__name__}")
    s = x if isinstance(x, str) else (str(int(x)) if isinstance(x, float) and x.is_integer() else str(x))
    if not s.strip():
        raise DataError(f"{where}: field '{key}' is empty")
    return s


# The verifier's reading of a gold answer, memoized per label text (labels repeat: numbers, letters).
_GOLD_FNS: Optional[Tuple[Any, Any]] = None
_LABEL_VERDICTS: Dict[str, Optional[str]] = {}
_LABEL_CACHE_MAX = 1 << 16
_UNSEEN = object()
# Shortcut, same verdict as the verifier: ASCII letters and digits ("16", "-3", "3.5", "B", "x2")
# hold no box, math region, bold span or text anchor (all of those need a backslash, $, *, a space,
# a colon or non-ASCII), so the verifier's gold answer is the label itself, and norm_text keeps every
# letter and digit that no backslash precedes.
_PLAIN_LABEL = re.compile(r"-?[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*\Z")
# Bytes norm_text may drop (whitespace, braces, $, a final '.', command names after a backslash,
# \, \! \; \: spacing): a gold answer with any other byte keeps it, and norm_text need not run.
_NORM_DROPPABLE = bytes(range(9, 14)) + b" {}$.\\,!;:" + bytes(range(65, 91)) + bytes(range(97, 123))


def _gold_fns() -> Tuple[Any, Any]:
    """(gold_answer, norm_text) of the verifier: gold_answer of the backend rlev_fast.verify uses
    (the C++ twin when built; both give the same answer), norm_text of the pure-Python twin."""
    global _GOLD_FNS
    if _GOLD_FNS is None:
        from . import verify_python
        from .verify import backend_name

        gold = verify_python.gold_answer
        if backend_name() == "cpp":
            from . import _verify  # type: ignore[attr-defined]

            gold = _verify.gold_answer
        _GOLD_FNS = (gold, verify_python.norm_text)
    return _GOLD_FNS


def unmatchable_label(label: str) -> Optional[str]:
    """Why no answer can ever match `label` under rlev_fast.verify, or None when one can.

    Decided by the verifier's own gold handling, not by a list of bad labels: the gold answer it
    extracts is None (verify() is then always False), or it is empty once the verifier's loose
    text form (`norm_text`: $, braces, spaces, \\text-like commands and final dots dropped) is
    taken, so that only a response with no answer in it ("$", "\\boxed{}", ".") would be rewarded.
    Examples: "$$", "\\boxed{}", "{}", "\\text{}", ".", "...", "$ $"."""
    cached = _LABEL_VERDICTS.get(label, _UNSEEN)
    if cached is not _UNSEEN:
        return cached  # type: ignore[return-value]
    gold_answer, norm_text = _gold_fns()
    why: Optional[str] = None
    if _PLAIN_LABEL.match(label):
        pass  # the verifier's gold is the label itself, letters and digits kept (see above)
    elif (gold := gold_answer(label.encode("utf-8", "surrogatepass"))) is None:
        why = "the verifier reads no gold answer in it, so no response is ever rewarded"
    elif not gold.translate(None, _NORM_DROPPABLE) and not norm_text(gold):
        text = gold.decode("utf-8", "replace")
        shown = "" if text == label else f" ({_show(text)})"
        why = (f"the verifier's gold answer{shown} is empty once $, braces, spaces, \\text-like commands "
               "and final dots are dropped, so only a response without an answer (such as '$') is rewarded")
    if len(_LABEL_VERDICTS) >= _LABEL_CACHE_MAX:
        _LABEL_VERDICTS.clear()
    _LABEL_VERDICTS[label] = why
    return why


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def parse_row(row: Any, where: str) -> Example:
    """One JSON object in any of the three formats -> Example. `where` prefixes error messages."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")

    def need(*keys: str) -> None:
        for k in keys:
            if k not in row or row[k] is None:
                raise DataError(f"{where}: missing field '{k}'")

    if "query" in row:
        need("query", "label", "score", "total")
        prompt, answer = _text(row, "query", where), _text(row, "label", where)
        answer_key = "label"
        has_score = True
    elif "prompt" in row:
        need("prompt", "answer")
        prompt, answer = _text(row, "prompt", where), _text(row, "answer", where)
        answer_key = "answer"
        if "score" in row or "total" in row:
            need("score", "total")
            has_score = True
        elif "value" in row:
            has_score = False
        else:
            raise DataError(f"{where}: missing field 'value' (or 'score' and 'total')")
    else:
        raise DataError(f"{where}: missing field 'query' (or 'prompt')")
    why = unmatchable_label(answer)
    if why is not None:
        raise DataError(f"{where}: {answer_key} {_show(answer)} cannot be matched by any answer: {why}")

    score = total = None
    if has_score:
        score, total = _number(row, "score", where), _number(row, "total", where)
        if total <= 0:
            raise DataError(f"{where}: total {_fmt(total)} must be > 0")
        if score < 0:
            raise DataError(f"{where}: score {_fmt(score)} must be >= 0")
        if score > total:
            raise DataError(f"{where}: score {_fmt(score)} > total {_fmt(total)}")
        value = score / total  # exam_values semantics, kept in float64
    else:
        value = _number(row, "value", where)
        if not (0.0 <= value <= 1.0):
            raise DataError(f"{where}: value {value} is outside [0, 1]")

    templated = row.get("templated")
    if templated is None:
        templated = looks_templated(prompt)
    elif not isinstance(templated, bool):
        raise DataError(f"{where}: field 'templated' must be true or false, got {templated!r}")
    exam_id = row.get("exam_id")
    return Example(
        prompt=prompt, answer=answer, value=value, score=score, total=total,
        exam_id=None if exam_id is None else str(exam_id), templated=templated,
    )


# -- decoding one line -------------------------------------------------------------------------
# Fast path: one JSONDecoder whose hooks refuse, as they are met, what json.loads would silently
# accept: duplicate keys (object_pairs_hook; json keeps the last), NaN / Infinity / -Infinity
# (parse_constant) and float literals beyond the float range (parse_float; 1e400 would be inf).
# A refused line is parsed again by a diagnostic decoder that keeps markers in place of the bad
# numbers, to name the field they sit in.

class _Refused(Exception):
    """A decoder hook refused the line; args[0], when given, is the message (without the prefix)."""


_INF = float("inf")


def _fast_float(s: str) -> float:
    x = float(s)
    if x == _INF or x == -_INF:
        raise _Refused()
    return x


def _fast_constant(s: str) -> Any:
    raise _Refused()


def _fast_object(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: Dict[str, Any] = {}
        for k, v in pairs:
            if k in seen:
                raise _Refused(f"duplicate key {_show(k)} in one object (values {_brief(seen[k])} and "
                               f"{_brief(v)}; JSON would keep only the last)")
            seen[k] = v
    return d


_DECODER = json.JSONDecoder(object_pairs_hook=_fast_object, parse_float=_fast_float, parse_constant=_fast_constant)


class _Bad:
    """Diagnostic marker for a number that cannot be used; `why` completes "field 'x' ..."."""
    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


class _Pairs(list):
    """A JSON object as the diagnostic decoder keeps it: its (key, value) pairs in order."""


def _int_digit_limit() -> int:
    get = getattr(sys, "get_int_max_str_digits", None)
    return get() if get is not None else 0


def _diag_int(s: str) -> Any:
    limit = _int_digit_limit()
    n = len(s) - (s[0] == "-")
    if limit and n > limit:
        return _Bad(f"has {n} digits: not a usable number")
    return int(s)


def _diag_float(s: str) -> Any:
    x = float(s)
    if x == _INF or x == -_INF:
        return _Bad(f"must be finite, got {_show(s, 40)[1:-1]} (too large for a float)")
    return x


def _diag_constant(s: str) -> Any:
    return _Bad(f"must be finite, got {s}")


_DIAG_DECODER = json.JSONDecoder(object_pairs_hook=_Pairs, parse_int=_diag_int, parse_float=_diag_float,
                                 parse_constant=_diag_constant)


def _nesting_message(line: str) -> str:
    depth = best = 0
    for c in re.findall(r"[\[\]{}]", re.sub(r'"(?:[^"\\]|\\.)*"', "", line)):
        depth += 1 if c in "[{" else -1
        best = max(best, depth)
    return (f"JSON nested {best} levels deep: nesting deeper than about {sys.getrecursionlimit()} levels "
            "(Python's recursion limit) cannot be read")


def _bad_number_message(line: str) -> str:
    """What the fast decoder refused without a message: the first unusable number, by field."""
    try:
        obj = _DIAG_DECODER.decode(line)
    except RecursionError:
        return _nesting_message(line)
    stack: List[Tuple[Any, str]] = [(obj, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _Bad):
            return f"field '{path}' {node.why}" if path else f"number {node.why}"
        if isinstance(node, _Pairs):
            kids = [(v, f"{path}.{k}" if path else k) for k, v in node]
        elif isinstance(node, list):
            kids = [(v, f"{path}[{i}]") for i, v in enumerate(node)]
        else:
            continue
        stack.extend(reversed(kids))
    return "a number in it cannot be used"  # not reached: the fast decoder refused one


_UTF8_BOM = b"\xef\xbb\xbf"
_FILE_MAGIC = (  # how a file that is not UTF-8 text starts, and what to do about it
    (b"\x1f\x8b", "the file looks gzip-compressed (it starts with the bytes 1f 8b): gunzip it first"),
    (b"BZh", "the file looks bzip2-compressed (it starts with 'BZh'): bunzip2 it first"),
    (b"\xfd7zXZ\x00", "the file looks xz-compressed (it starts with the bytes fd 37 7a 58 5a 00): unxz it first"),
    (b"\x28\xb5\x2f\xfd", "the file looks zstd-compressed (it starts with the bytes 28 b5 2f fd): unzstd it first"),
    (b"PK\x03\x04", "the file looks like a zip archive (it starts with 'PK'): unzip it first"),
    (b"\xff\xfe\x00\x00", "the file looks UTF-32 (it starts with the byte-order mark ff fe 00 00): "
                          "re-save it as UTF-8"),
    (b"\x00\x00\xfe\xff", "the file looks UTF-32 (it starts with the byte-order mark 00 00 fe ff): "
                          "re-save it as UTF-8"),
    (b"\xff\xfe", "the file looks UTF-16 (it starts with the byte-order mark ff fe): re-save it as UTF-8"),
    (b"\xfe\xff", "the file looks UTF-16 (it starts with the byte-order mark fe ff): re-save it as UTF-8"),
)


def _binary_cause(head: bytes, data: bytes) -> Optional[str]:
    """The likely cause when the file's first bytes (`head`) or a line's bytes (`data`) are not
    UTF-8 text: compression, a UTF-16/32 byte-order mark, NUL bytes (UTF-16/32 without one)."""
    for magic, cause in _FILE_MAGIC:
        if head.startswith(magic):
            return cause
    if b"\x00" in data:
        sample = data[:4096]
        share = sample.count(0) / len(sample)
        if share >= 0.6:
            return ("the file looks UTF-32 (NUL bytes between the characters, no byte-order mark): "
                    "re-save it as UTF-8")
        if share >= 0.25:
            return ("the file looks UTF-16 (NUL bytes between the characters, no byte-order mark): "
                    "re-save it as UTF-8")
        return "the line holds NUL bytes: the file looks binary, not JSONL text"
    return None


def _not_utf8_message(where: str, head: bytes, data: bytes, col0: int, exc: UnicodeDecodeError) -> str:
    byte = data[exc.start]
    at = f"not UTF-8: byte 0x{byte:02x} at byte column {col0 + exc.start + 1}"
    cause = _binary_cause(head, data)
    if cause is None:
        if exc.reason == "unexpected end of data":
            cause = "the line ends inside a UTF-8 character: the file looks truncated"
        else:
            try:
                data.decode("cp1252")
                legacy = "latin-1/cp1252"
            except UnicodeDecodeError:
                legacy = "latin-1" if all(b >= 0xa0 for b in data if b >= 0x80) else ""
            if legacy:
                cause = (f"the file looks {legacy} encoded (0x{byte:02x} is "
                         f"{_show(bytes([byte]).decode('cp1252' if legacy != 'latin-1' else 'latin-1'))} "
                         "there): re-save it as UTF-8")
            else:
                cause = "the file is in another encoding, or binary: re-save it as UTF-8"
    return f"{where}: {at}; {cause}"


def _json_error_message(where: str, line: str, head: bytes, data: bytes, col0: int,
                        exc: json.JSONDecodeError) -> str:
    if "\x00" in line:
        cause = _binary_cause(head, data) or ""
        nul = data.find(b"\x00") + 1 + col0
        return f"{where}: not UTF-8 text: NUL byte at byte column {nul}; {cause}"
    if line.startswith("\ufeff"):
        return (f"{where}: the line starts with a UTF-8 byte-order mark (U+FEFF), as when files that each "
                "start with one are concatenated: remove it")
    msg = exc.msg if exc.msg.endswith(" at") else exc.msg + " at"  # "Unterminated string starting at"
    return f"{where}: not valid JSON ({msg} column {exc.colno})"


def _decode_line(name: str, lineno: int, data: bytes, col0: int, head: bytes) -> Optional[Example]:
    """One line's bytes -> Example, or None for a blank line. `col0`: bytes before `data` in the
    line as stored (a leading UTF-8 BOM)."""
    try:
        line = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(_not_utf8_message(f"{name} line {lineno}", head, data, col0, exc)) from None
    if not line.strip():
        return None
    where = f"{name} line {lineno}"
    try:
        row = _DECODER.decode(line)
    except json.JSONDecodeError as exc:
        raise DataError(_json_error_message(where, line, head, data, col0, exc)) from None
    except _Refused as exc:
        raise DataError(f"{where}: {exc.args[0] if exc.args else _bad_number_message(line)}") from None
    except RecursionError:
        raise DataError(f"{where}: {_nesting_message(line)}") from None
    except ValueError:  # an integer literal over sys.get_int_max_str_digits() digits
        raise DataError(f"{where}: {_bad_number_message(line)}") from None
    return parse_row(row, where)


def _folder_message(name: str) -> str:
    try:
        inside = sorted(e for e in os.listdir(name) if e.endswith(".jsonl"))
    except OSError:
        inside = []
    hint = ""
    if inside:
        shown = ", ".join(inside[:5]) + (", ..." if len(inside) > 5 else "")
        hint = f"; pass one of the JSONL files in it ({shown})"
    return f"{name}: is a folder, not a JSONL file{hint}"


def read_jsonl(path: "str | os.PathLike[str]") -> List[Example]:
    """Examples from a JSONL file in any of the three formats (formats may mix across lines).

    The file is UTF-8 (a leading byte-order mark is skipped), read as bytes and decoded line by
    line, so that every error names the file and its line (1-based); lines end in \\n, \\r\\n or \\r.
    Raises DataError ("data.jsonl line 7: missing field 'label'", "data.jsonl line 3: not valid
    JSON (...)", "data.jsonl line 9: score 12 > total 10", "data.jsonl line 2: not UTF-8: byte 0xe9
    at byte column 12; ...", "data.jsonl line 4: duplicate key 'score' ...", "data.jsonl line 5:
    label '$$' cannot be matched by any answer: ...", "data.jsonl: is a folder, not a JSONL file",
    "data.jsonl: no examples") and FileNotFoundError for a missing file."""
    name = os.fspath(path)
    if os.path.isdir(name):
        raise DataError(_folder_message(name))
    out: List[Example] = []
    head = b""
    with open(name, "rb") as f:
        lineno = 0
        for raw in f:
            lineno += 1
            col0 = 0
            if lineno == 1:
                head = raw[:16]
                if raw.startswith(_UTF8_BOM):
                    raw, col0 = raw[3:], 3
            cr = raw.find(b"\r")
            if cr >= 0 and not (cr == len(raw) - 2 and raw[-1:] == b"\n"):
                # a lone \r ends a line too, as in text mode (universal newlines)
                body = raw[:-1] if raw[-1:] == b"\n" else raw
                if body[-1:] == b"\r" and raw[-1:] == b"\n":
                    body = body[:-1]
                parts = body.split(b"\r")
                for k, part in enumerate(parts):
                    ex = _decode_line(name, lineno + k, part, col0 if k == 0 else 0, head)
                    if ex is not None:
                        out.append(ex)
                lineno += len(parts) - 1
                continue
            ex = _decode_line(name, lineno, raw, col0, head)
            if ex is not None:
                out.append(ex)
    if not out:
        raise DataError(f"{name}: no examples")
    return out


def write_jsonl(rows: Iterable[Any], path: "str | os.PathLike[str]") -> None:
    """Write rows (dicts, or Examples written as {prompt, answer, value, score?, total?, ...})
    as JSONL, atomically: a temporary file in the same folder, then os.replace."""
    name = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(name))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".jsonl", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for r in rows:
                if isinstance(r, Example):
                    r = {k: v for k, v in r.__dict__.items() if v is not None}
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        os.replace(tmp, name)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
