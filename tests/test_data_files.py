"""read_jsonl on files as users have them: wrong encodings, compression, byte-order marks, line
endings, hostile JSON (deep nesting, huge numbers, NaN, duplicate keys), labels the verifier can
never match, a folder. Every error is a DataError (a ValueError) naming the file and the 1-based
line; through the trainer it is one "error: ..." line and exit status 1, before anything of a
resumed run is touched. The exact messages are listed in docs/robustness.md."""
import bz2
import gzip
import json
import os

import pytest

from rlev_fast.data import DataError, read_jsonl, unmatchable_label, write_jsonl
from rlev_fast.verify import verify

ROW = {"query": "Q (1 of 10 points): 2+3 = ?", "label": "5", "score": 1, "total": 10}
GOOD = json.dumps(ROW)
CAFE = json.dumps({"query": "Café: 2+3 = ?", "label": "5", "score": 1, "total": 10}, ensure_ascii=False)


def _bytes(tmp_path, data, name="data.jsonl"):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def _error(path):
    with pytest.raises(DataError) as info:
        read_jsonl(path)
    msg = str(info.value)
    assert msg.startswith(path), msg
    assert isinstance(info.value, ValueError)
    return msg


def _row_file(tmp_path, text, lines_before=0):
    return _bytes(tmp_path, ((GOOD + "\n") * lines_before + text + "\n").encode("utf-8"))


# ----------------------------------------------------------------------------------------------
# Encodings and compression: file, line, byte column, likely cause
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, data, expected", [
    ("latin-1", (GOOD + "\n" + GOOD + "\n" + CAFE + "\n").encode("latin-1"),
     "line 3: not UTF-8: byte 0xe9 at byte column 15; the file looks latin-1/cp1252 encoded "
     "(0xe9 is 'é' there): re-save it as UTF-8"),
    ("cp1252", (GOOD + "\n" + json.dumps({"query": "“2+3”", "label": "5", "score": 1, "total": 10},
                                         ensure_ascii=False) + "\n").encode("cp1252"),
     "line 2: not UTF-8: byte 0x93 at byte column 12; the file looks latin-1/cp1252 encoded "
     "(0x93 is '“' there): re-save it as UTF-8"),
    ("utf-16 with BOM", (GOOD + "\n" + GOOD + "\n").encode("utf-16"),
     "line 1: not UTF-8: byte 0xff at byte column 1; the file looks UTF-16 (it starts with the "
     "byte-order mark ff fe): re-save it as UTF-8"),
    ("utf-16-le without BOM", (GOOD + "\n" + GOOD + "\n").encode("utf-16-le"),
     "line 1: not UTF-8 text: NUL byte at byte column 2; the file looks UTF-16 (NUL bytes between "
     "the characters, no byte-order mark): re-save it as UTF-8"),
    ("utf-16-be without BOM", (GOOD + "\n").encode("utf-16-be"),
     "line 1: not UTF-8 text: NUL byte at byte column 1; the file looks UTF-16 (NUL bytes between "
     "the characters, no byte-order mark): re-save it as UTF-8"),
    ("utf-16-le without BOM, non-ASCII", (CAFE + "\n").encode("utf-16-le"),
     "line 1: not UTF-8: byte 0xe9 at byte column 29; the file looks UTF-16 (NUL bytes between "
     "the characters, no byte-order mark): re-save it as UTF-8"),
    ("utf-32", (GOOD + "\n").encode("utf-32"),
     "line 1: not UTF-8: byte 0xff at byte column 1; the file looks UTF-32 (it starts with the "
     "byte-order mark ff fe 00 00): re-save it as UTF-8"),
    ("gzip", gzip.compress(((GOOD + "\n") * 20).encode(), mtime=0),
     "line 1: not UTF-8: byte 0x8b at byte column 2; the file looks gzip-compressed (it starts "
     "with the bytes 1f 8b): gunzip it first"),
    ("bzip2", bz2.compress(((GOOD + "\n") * 20).encode()), "the file looks bzip2-compressed"),
    ("truncated", (GOOD + "\n").encode() + CAFE.encode()[:15],
     "line 2: not UTF-8: byte 0xc3 at byte column 15; the line ends inside a UTF-8 character: "
     "the file looks truncated"),
    ("binary", b"\x00\x01\x02\x03" * 8 + b"\n",
     "line 1: not UTF-8 text: NUL byte at byte column 1; the line holds NUL bytes: the file looks "
     "binary, not JSONL text"),
])
def test_wrong_encoding_names_line_column_and_cause(tmp_path, name, data, expected):
    msg = _error(_bytes(tmp_path, data))
    assert expected in msg, msg
    if expected.startswith("line "):
        assert msg == _bytes(tmp_path, data) + " " + expected


def test_encoding_error_line_is_exact_past_the_read_buffer(tmp_path):
    # the old text-mode reader reported an offset into its decode buffer; here it is the line
    lines = [GOOD] * 5000 + [CAFE] + [GOOD] * 10
    path = _bytes(tmp_path, ("\n".join(lines) + "\n").encode("latin-1"))
    assert _error(path) == f"{path} line 5001: not UTF-8: byte 0xe9 at byte column 15; the file looks " \
        "latin-1/cp1252 encoded (0xe9 is 'é' there): re-save it as UTF-8"


def test_utf8_bom_file_loads(tmp_path):
    plain = _bytes(tmp_path, (GOOD + "\n" + CAFE + "\n").encode(), "plain.jsonl")
    bom = _bytes(tmp_path, b"\xef\xbb\xbf" + (GOOD + "\r\n" + CAFE + "\r\n").encode(), "bom.jsonl")
    assert read_jsonl(bom) == read_jsonl(plain)
    assert len(read_jsonl(bom)) == 2
    # a BOM that is not at the start of the file (two BOM files concatenated) is named, not skipped
    cat = _bytes(tmp_path, b"\xef\xbb\xbf" + (GOOD + "\n").encode() + b"\xef\xbb\xbf" + (GOOD + "\n").encode())
    assert _error(cat) == (f"{cat} line 2: the line starts with a UTF-8 byte-order mark (U+FEFF), as when "
                           "files that each start with one are concatenated: remove it")
    # after a BOM the byte column still counts from the start of the stored line
    bad = _bytes(tmp_path, b"\xef\xbb\xbf" + CAFE.encode("latin-1") + b"\n", "bad.jsonl")
    assert "line 1: not UTF-8: byte 0xe9 at byte column 18;" in _error(bad)


def test_line_endings_and_numbers_as_in_text_mode(tmp_path):
    # \n, \r\n and a lone \r all end a line, as with open(..., "r") (universal newlines)
    for sep in ("\n", "\r\n", "\r"):
        path = _bytes(tmp_path, (GOOD + sep + sep + GOOD + sep + '{"text": 1}' + sep).encode())
        assert _error(path) == f"{path} line 4: missing field 'query' (or 'prompt')"
        path = _bytes(tmp_path, (GOOD + sep + GOOD).encode())  # no final newline
        assert len(read_jsonl(path)) == 2
    mixed = _bytes(tmp_path, (GOOD + "\r" + GOOD + "\r\n" + GOOD + "\n" + '{"text": 1}').encode())
    assert _error(mixed) == f"{mixed} line 4: missing field 'query' (or 'prompt')"


# ----------------------------------------------------------------------------------------------
# Hostile JSON: nesting, huge numbers, NaN / Infinity, duplicate keys
# ----------------------------------------------------------------------------------------------

def test_deep_nesting_is_a_data_error(tmp_path):
    path = _row_file(tmp_path, "[" * 100000 + "]" * 100000, lines_before=2)
    msg = _error(path)
    assert msg.startswith(f"{path} line 3: JSON nested 100000 levels deep: nesting deeper than about "), msg
    assert msg.endswith("levels (Python's recursion limit) cannot be read"), msg
    inner = ROW | {"meta": json.loads("[" * 50 + "]" * 50)}  # nesting the parser can read still loads
    path = _row_file(tmp_path, json.dumps(inner))
    assert read_jsonl(path)[0].answer == "5"
    path = _row_file(tmp_path, json.dumps(ROW)[:-1] + ', "meta": ' + "{\"a\": " * 5000 + "1" + "}" * 5000 + "}")
    assert "line 1: JSON nested 5001 levels deep" in _error(path)


@pytest.mark.parametrize("field, literal, expected", [
    ("total", "9" * 400, "field 'total' has 400 digits: not a usable number"),
    ("score", "9" * 5000, "field 'score' has 5000 digits: not a usable number"),
    ("total", "-" + "9" * 5000, "field 'total' has 5000 digits: not a usable number"),
    ("label", "9" * 5000, "field 'label' has 5000 digits: not a usable number"),
    ("total", "1e400", "field 'total' must be finite, got 1e400 (too large for a float)"),
    ("total", '"' + "9" * 400 + '"', "field 'total' must be finite, got '"),
])
def test_huge_numbers_are_data_errors(tmp_path, field, literal, expected):
    row = dict(ROW)
    row[field] = 0
    text = json.dumps(row).replace(f'"{field}": 0', f'"{field}": {literal}')
    msg = _error(_row_file(tmp_path, text, lines_before=1))
    assert f" line 2: {expected}" in msg, msg


def test_a_400_digit_label_is_text(tmp_path):
    text = json.dumps(ROW).replace('"label": "5"', '"label": ' + "7" * 400)
    assert read_jsonl(_row_file(tmp_path, text))[0].answer == "7" * 400


@pytest.mark.parametrize("row, expected", [
    ('{"query": "q", "label": NaN, "score": 1, "total": 10}', "field 'label' must be finite, got NaN"),
    ('{"query": "q", "label": Infinity, "score": 1, "total": 10}', "field 'label' must be finite, got Infinity"),
    ('{"query": "q", "label": -Infinity, "score": 1, "total": 10}', "field 'label' must be finite, got -Infinity"),
    ('{"query": "q", "label": 1e999, "score": 1, "total": 10}',
     "field 'label' must be finite, got 1e999 (too large for a float)"),
    ('{"query": "q", "label": "5", "score": NaN, "total": 10}', "field 'score' must be finite, got NaN"),
    ('{"query": "q", "label": "5", "score": 1, "total": Infinity}', "field 'total' must be finite, got Infinity"),
    ('{"prompt": "q", "answer": "5", "value": NaN}', "field 'value' must be finite, got NaN"),
    ('{"prompt": "q", "answer": NaN, "value": 0.5}', "field 'answer' must be finite, got NaN"),
    ('{"prompt": "q", "answer": "5", "value": 0.5, "meta": {"w": [1, -Infinity]}}',
     "field 'meta.w[1]' must be finite, got -Infinity"),
    ('NaN', "number must be finite, got NaN"),
    # strings stay strings: a label "inf" is text, a score "nan" is refused by the number check
    ('{"query": "q", "label": "5", "score": "nan", "total": 10}', "field 'score' must be finite, got nan"),
])
def test_non_finite_numbers_anywhere_in_a_row(tmp_path, row, expected):
    msg = _error(_row_file(tmp_path, row, lines_before=2))
    assert msg.endswith(f" line 3: {expected}"), msg


def test_text_labels_nan_and_inf_load(tmp_path):
    path = _bytes(tmp_path, b'{"prompt": "q", "answer": "inf", "value": 0.5}\n{"prompt": "q", "answer": "NaN", '
                            b'"value": 0.5}\n')
    assert [e.answer for e in read_jsonl(path)] == ["inf", "NaN"]


@pytest.mark.parametrize("row, expected", [
    ('{"query": "q", "label": "5", "score": 1, "score": 8, "total": 10}',
     "duplicate key 'score' in one object (values 1 and 8; JSON would keep only the last)"),
    ('{"query": "q", "label": "5", "label": "6", "score": 1, "total": 10}',
     "duplicate key 'label' in one object (values '5' and '6'; JSON would keep only the last)"),
    ('{"query": "q", "label": "5", "score": 1, "total": 10, "meta": {"src": "a", "src": "b"}}',
     "duplicate key 'src' in one object (values 'a' and 'b'; JSON would keep only the last)"),
])
def test_duplicate_keys_are_refused(tmp_path, row, expected):
    msg = _error(_row_file(tmp_path, row, lines_before=1))
    assert msg.endswith(f" line 2: {expected}"), msg


def test_json_messages_say_at_once(tmp_path):
    # json's "Unterminated string starting at" and "Invalid control character at" end in "at"
    path = _bytes(tmp_path, (GOOD + "\n").encode() + b'{"query": "q')  # no final newline
    assert _error(path) == f"{path} line 2: not valid JSON (Unterminated string starting at column 11)"
    path = _bytes(tmp_path, b'{"query": "q\n')
    assert _error(path) == f"{path} line 1: not valid JSON (Invalid control character at column 13)"
    path = _bytes(tmp_path, b'{"query": "q" "label": "5"}\n')
    assert _error(path) == f"{path} line 1: not valid JSON (Expecting ',' delimiter at column 15)"


# ----------------------------------------------------------------------------------------------
# Labels the verifier can never match
# ----------------------------------------------------------------------------------------------

DEGENERATE = ["$$", "$$$$", "\\boxed{}", "\\boxed{ }", "{}", "\\text{}", "\\mathrm{}", ".", "...", "。", "$.$",
              "$\\text{ }$", "$ \\, $"]
NO_GOLD = ["$ $"]
FINE = ["5", "-3", "0.5", "B", "x", "42", "!?", "-", "?", "%", "()", "\\emptyset", "\\{\\}", "\\infty", "inf",
        "\\frac{1}{2}", "(1, 2)", "$x$", "Answer: 5", "\\boxed{7}", "yes", "A, C"]


@pytest.mark.parametrize("label", DEGENERATE + NO_GOLD)
def test_unmatchable_labels_are_refused(tmp_path, label):
    row = json.dumps({"query": "q", "label": label, "score": 1, "total": 10}, ensure_ascii=False)
    msg = _error(_row_file(tmp_path, row, lines_before=3))
    assert f" line 4: label '{label}' cannot be matched by any answer: " in msg, msg
    row = json.dumps({"prompt": "q", "answer": label, "value": 0.5}, ensure_ascii=False)
    assert f" line 1: answer '{label}' cannot be matched by any answer: " in _error(_row_file(tmp_path, row))


def test_unmatchable_label_messages(tmp_path):
    assert unmatchable_label("$$") == (
        "the verifier's gold answer is empty once $, braces, spaces, \\text-like commands and final dots are "
        "dropped, so only a response without an answer (such as '$') is rewarded")
    assert unmatchable_label("$\\text{ }$") == (
        "the verifier's gold answer ('\\text{ }') is empty once $, braces, spaces, \\text-like commands and final "
        "dots are dropped, so only a response without an answer (such as '$') is rewarded")
    assert unmatchable_label("$ $") == "the verifier reads no gold answer in it, so no response is ever rewarded"
    # empty and whitespace-only labels keep their own message
    path = _row_file(tmp_path, '{"query": "q", "label": " \\t ", "score": 1, "total": 10}')
    assert _error(path) == f"{path} line 1: field 'label' is empty"


@pytest.mark.parametrize("label", FINE)
def test_labels_an_answer_can_match_load(tmp_path, label):
    row = json.dumps({"query": "q", "label": label, "score": 1, "total": 10}, ensure_ascii=False)
    assert read_jsonl(_row_file(tmp_path, row))[0].answer == label
    assert verify(f"\\boxed{{{label}}}", label) or verify(f"The answer is {label}", label)


@pytest.mark.parametrize("label", DEGENERATE + NO_GOLD + FINE)
def test_the_rule_is_the_verifiers(label):
    """Refused exactly when the verifier rewards the degenerate responses ('$', '\\boxed{}', '.') or nothing."""
    from rlev_fast.verify_python import gold_answer

    degenerate_rewarded = all(verify(r, label) for r in ("$", "\\boxed{}", "."))
    never = gold_answer(label.encode()) is None
    assert (unmatchable_label(label) is not None) == (degenerate_rewarded or never)
    if label in FINE:
        assert not any(verify(r, label) for r in ("$", "\\boxed{}", ".", ""))


@pytest.mark.parametrize("label", ["0", "-0", "007", "1.5", "-2.25", "e", "E10", "nan", "inf", "a.b.c", "answer",
                                   "is", "Answeris", "x2", "ABCD", "1.2.3"])
def test_plain_label_shortcut_agrees_with_the_verifier(label):
    # unmatchable_label skips the verifier for ASCII letters/digits ("16", "B"): the full rule agrees
    from rlev_fast.verify_python import gold_answer, norm_text

    gold = gold_answer(label.encode())
    assert gold is not None and norm_text(gold)
    assert unmatchable_label(label) is None


# ----------------------------------------------------------------------------------------------
# A folder; valid files unchanged
# ----------------------------------------------------------------------------------------------

def test_folder_is_named_as_a_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _error(str(empty)) == f"{empty}: is a folder, not a JSONL file"
    data = tmp_path / "data"
    data.mkdir()
    for n in ("train.jsonl", "test.jsonl", "notes.txt"):
        (data / n).write_text(GOOD + "\n")
    assert _error(str(data)) == f"{data}: is a folder, not a JSONL file; pass one of the JSONL files in it " \
        "(test.jsonl, train.jsonl)"
    with pytest.raises(FileNotFoundError):
        read_jsonl(str(tmp_path / "nope.jsonl"))


def test_valid_files_load_as_before(tmp_path):
    rows = [ROW, {"prompt": "Ünïcödé ✓ 2+3?", "answer": "\\frac{1}{2}", "value": 0.25, "exam_id": 7},
            {"prompt": "q", "answer": "B", "score": "3", "total": "9", "templated": True, "meta": {"a": [1, 2.5]}},
            {"query": "<|im_start|>user\nq<|im_end|>\n", "label": 12, "score": 0, "total": 1e300}]
    path = str(tmp_path / "ok.jsonl")
    write_jsonl(rows, path)
    ex = read_jsonl(path)
    assert [e.answer for e in ex] == ["5", "\\frac{1}{2}", "B", "12"]
    assert [e.exam_id for e in ex] == [None, "7", None, None]
    assert [e.templated for e in ex] == [False, False, True, True]
    assert ex[1].value == 0.25 and ex[2].value == pytest.approx(1 / 3) and ex[3].total == 1e300


# ----------------------------------------------------------------------------------------------
# Through the trainer: "error: ..." and exit status 1, a resumed run's files untouched
# ----------------------------------------------------------------------------------------------

def _tiny_args(model_dir, out, *extra):
    return ["--model", model_dir, "--out", str(out), "--steps", "2", "--prompts-per-step", "4", "--n", "2",
            "--max-new-tokens", "8", "--eval-limit", "8", "--no-progress", "--lr", "1e-3", *extra]


@pytest.mark.parametrize("content, expected", [
    (("[" * 100000 + "]" * 100000 + "\n").encode(), "line 1: JSON nested 100000 levels deep"),
    ((GOOD + "\n" + GOOD.replace('"total": 10', '"total": ' + "9" * 400) + "\n").encode(),
     "line 2: field 'total' has 400 digits: not a usable number"),
    ((GOOD + "\n" + CAFE + "\n").encode("latin-1"), "line 2: not UTF-8: byte 0xe9 at byte column 15"),
    (GOOD.replace('"label": "5"', '"label": "$$"').encode() + b"\n", "line 1: label '$$' cannot be matched"),
])
def test_trainer_reports_bad_files_in_one_line(model_dir, tmp_path, capsys, content, expected):
    import rlev_fast.train as T

    path = _bytes(tmp_path, content, "bad.jsonl")
    assert T.main(_tiny_args(model_dir, tmp_path / "out", "--data", path)) == 1
    err = capsys.readouterr().err
    assert f"error: {path} {expected}" in err, err
    assert "Traceback" not in err


def test_bad_data_on_resume_leaves_the_run_intact(model_dir, tmp_path, capsys):
    import rlev_fast.train as T

    data = tmp_path / "train.jsonl"
    rows = [dict(ROW, query=f"Q ({i % 9 + 1} of 10 points): {i}+1 = ?", label=str(i + 1), exam_id=f"e{i // 3}")
            for i in range(24)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    assert T.main(_tiny_args(model_dir, out, "--data", str(data), "--no-eval", "--no-save-final",
                             "--no-plots", "--save-every", "1")) == 0
    before = {p: (out / p).read_bytes() for p in ("metrics.jsonl",)}
    ckpts = sorted(os.listdir(out / "checkpoints"))
    assert ckpts
    capsys.readouterr()
    data.write_bytes(data.read_bytes() + ("[" * 100000 + "]" * 100000 + "\n").encode())
    assert T.main(_tiny_args(model_dir, out, "--data", str(data), "--no-eval", "--no-save-final",
                             "--no-plots", "--resume", "--steps", "3")) == 1
    err = capsys.readouterr().err
    assert f"error: {data} line 25: JSON nested 100000 levels deep" in err, err
    assert {p: (out / p).read_bytes() for p in before} == before
    assert sorted(os.listdir(out / "checkpoints")) == ckpts
