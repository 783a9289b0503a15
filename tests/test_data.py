"""Synthetic exams, the default dataset, JSONL formats and every bad-input error."""
import json
import os
import re
from collections import defaultdict

import pytest

from rlev_fast.data import (
    DataError,
    Example,
    default_dataset,
    default_rows,
    extract_answer,
    format_prompt,
    generate_exams,
    looks_templated,
    problem_of,
    read_jsonl,
    split_by_exam,
    write_jsonl,
)
from rlev_fast.rewards import exam_values, value_scale


def _eval_expr(expr):
    return eval(expr, {"__builtins__": {}})  # only digits and + - from the generator


def test_generator_is_deterministic_and_seeded():
    a = generate_exams(10, seed=3)
    b = generate_exams(10, seed=3)
    c = generate_exams(10, seed=4)
    assert a == b
    assert a != c


def test_rows_are_rlev_format_and_correct():
    rows = generate_exams(30, seed=1, with_references=True)
    for r in rows:
        assert {"query", "label", "score", "total", "exam_id", "kind"} <= set(r)
        assert r["kind"] in ("arith", "mc")
        assert 0 < r["score"] <= r["total"]
        # the value is visible in the prompt, as on an exam paper
        assert r["query"].startswith(f"Q ({r['score']} of {r['total']} points): ")
        result = _eval_expr(r["problem"])
        if r["kind"] == "arith":
            assert r["label"] == str(result)
        else:
            opts = dict(re.findall(r" ([ABCD])\) (\d+)", r["query"]))
            assert sorted(opts) == list("ABCD")
            assert int(opts[r["label"]]) == result
            assert len(set(opts.values())) == 4
        assert extract_answer(r["direct"]) == r["label"]
        assert extract_answer(r["worked"]) == r["label"]
        assert len(r["worked"]) > len(r["direct"])
        # every worked step is true arithmetic
        for lhs, rhs in re.findall(r"(\d+[+-]\d+)=(\d+)", r["worked"]):
            assert _eval_expr(lhs) == int(rhs)


def test_exam_structure_and_value_distribution():
    rows = generate_exams(200, seed=0)
    exams = defaultdict(list)
    for r in rows:
        exams[r["exam_id"]].append(r)
    for qs in exams.values():
        assert 5 <= len(qs) <= 12
        total = qs[0]["total"]
        assert all(q["total"] == total for q in qs)
        assert 50 <= total <= 150
        assert sum(q["score"] for q in qs) <= total
    v = exam_values([r["score"] for r in rows], [r["total"] for r in rows])
    low = float(((v >= 0.01) & (v <= 0.09)).float().mean())
    high = float((v >= 0.14).float().mean())
    assert low > 0.8, low  # most questions are worth little
    assert 0.05 < high < 0.2, high  # a few are worth a lot
    assert float(v.max()) <= 0.41
    s = value_scale(v)
    assert float(s.min()) >= 1.1 and float(s.max()) == 2.0
    kinds = [r["kind"] for r in rows]
    assert 0.3 < kinds.count("mc") / len(kinds) < 0.5


def test_split_by_exam_has_no_leakage():
    rows = generate_exams(50, seed=2)
    train, test = split_by_exam(rows, 0.2, seed=0)
    tr_ids = {r["exam_id"] for r in train}
    te_ids = {r["exam_id"] for r in test}
    assert tr_ids.isdisjoint(te_ids)
    assert len(tr_ids) + len(te_ids) == 50 and len(te_ids) == 10
    assert len(train) + len(test) == len(rows)
    assert split_by_exam(rows, 0.2, seed=0) == (train, test)
    with pytest.raises(ValueError):
        split_by_exam(rows, 1.0)


def test_default_dataset():
    train, test = default_dataset()
    assert 300 <= len(train) <= 800 and 100 <= len(test) <= 200
    assert default_dataset() == (train, test)
    assert all(isinstance(e, Example) and not e.templated for e in train + test)
    assert {e.exam_id for e in train}.isdisjoint({e.exam_id for e in test})
    for e in test[:20]:
        assert e.value == pytest.approx(e.score / e.total)
    tr_rows, te_rows = default_rows()
    assert [r["query"] for r in te_rows] == [e.prompt for e in test]
    assert problem_of(test[0].prompt) in test[0].prompt


def test_generator_excludes_problems():
    _, te = default_rows()
    excl = {problem_of(r["query"]) for r in te}
    rows = generate_exams(100, seed=1000, exclude_problems=excl, with_references=True)
    assert not excl & {r["problem"] for r in rows}


def _write(tmp_path, name, lines):
    p = tmp_path / name
    p.write_text("".join(line + "\n" for line in lines))
    return str(p)


def test_read_three_formats(tmp_path):
    rows = [
        {"query": "<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n", "label": "2", "score": 5, "total": 50},
        {"prompt": "2+2?", "answer": 4, "score": 3, "total": 60, "exam_id": "e1"},
        {"prompt": "3+3?", "answer": "6", "value": 0.25},
        {"query": "plain 4+4?", "label": "8", "score": "10", "total": "40"},
    ]
    path = _write(tmp_path, "data.jsonl", [json.dumps(r) for r in rows[:2]] + [""] + [json.dumps(r) for r in rows[2:]])
    ex = read_jsonl(path)
    assert len(ex) == 4
    assert ex[0].templated and ex[0].value == pytest.approx(0.1) and ex[0].answer == "2"
    assert not ex[1].templated and ex[1].answer == "4" and ex[1].value == pytest.approx(0.05)
    assert ex[1].exam_id == "e1" and ex[1].score == 3 and ex[1].total == 60
    assert ex[2].value == 0.25 and ex[2].score is None and ex[2].total is None
    assert ex[3].value == pytest.approx(0.25) and not ex[3].templated


def test_write_jsonl_roundtrip_is_atomic(tmp_path):
    train, _ = default_rows()
    path = str(tmp_path / "sub" / "train.jsonl")
    write_jsonl(train, path)
    ex = read_jsonl(path)
    assert len(ex) == len(train)
    assert [e.prompt for e in ex] == [r["query"] for r in train]
    assert [e.exam_id for e in ex] == [r["exam_id"] for r in train]
    assert os.listdir(tmp_path / "sub") == ["train.jsonl"]  # no temporary file left behind
    # Examples write as {prompt, answer, value, ...} and read back equal
    p2 = str(tmp_path / "ex.jsonl")
    write_jsonl(ex[:5], p2)
    assert read_jsonl(p2) == ex[:5]


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"query": "q", "score": 1, "total": 2}'], "line 1: missing field 'label'"),
        (['{"query": "q", "label": "a", "score": 1, "total": 2}', '{"query": "q", "label": "a", "total": 2}'],
         "line 2: missing field 'score'"),
        (['', '', '{"query": "q", "label": "a", "score": 1'], "line 3: not valid JSON"),
        (['{"query": "q", "label": "a", "score": 12, "total": 10}'], "line 1: score 12 > total 10"),
        (['{"prompt": "q", "answer": "a", "score": -1, "total": 10}'], "line 1: score -1 must be >= 0"),
        (['{"prompt": "q", "answer": "a", "score": 1, "total": 0}'], "line 1: total 0 must be > 0"),
        (['{"prompt": "q", "answer": "a", "score": 1}'], "line 1: missing field 'total'"),
        (['{"prompt": "q", "answer": "a"}'], "line 1: missing field 'value' (or 'score' and 'total')"),
        (['{"prompt": "q", "value": 0.5}'], "line 1: missing field 'answer'"),
        (['{"prompt": "q", "answer": "a", "value": 1.5}'], "line 1: value 1.5 is outside [0, 1]"),
        (['{"prompt": "q", "answer": "a", "value": "high"}'], "line 1: field 'value' must be a number"),
        (['{"prompt": "q", "answer": "  ", "value": 0.1}'], "line 1: field 'answer' is empty"),
        (['{"text": "q"}'], "line 1: missing field 'query' (or 'prompt')"),
        (['[1, 2]'], "line 1: expected a JSON object"),
        (['{"query": "q", "label": "a", "score": 1, "total": NaN}'], "line 1: field 'total' must be finite"),
        # refused since the robustness pass (docs/robustness.md); tests/test_data_files.py has the rest
        (['{"query": "q", "label": NaN, "score": 1, "total": 2}'], "line 1: field 'label' must be finite, got NaN"),
        (['{"query": "q", "label": "a", "score": 1, "score": 2, "total": 2}'],
         "line 1: duplicate key 'score' in one object (values 1 and 2; JSON would keep only the last)"),
        (['{"query": "q", "label": "a", "score": 1, "total": 2}',
          '{"query": "q", "label": "$$", "score": 1, "total": 2}'],
         "line 2: label '$$' cannot be matched by any answer"),
        (['{"query": "q, "label": "a"}'], "line 1: not valid JSON (Expecting ',' delimiter at column 16)"),
        (['{"query": "q'], "line 1: not valid JSON (Invalid control character at column 13)"),
        ([], ": no examples"),
        (['', '   '], ": no examples"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, lines, message):
    path = _write(tmp_path, "data.jsonl", lines)
    with pytest.raises(DataError) as info:
        read_jsonl(path)
    msg = str(info.value)
    assert msg.startswith(path), msg
    assert message in msg, msg
    assert isinstance(info.value, ValueError)


def test_numeric_labels_are_text(tmp_path):
    path = _write(tmp_path, "data.jsonl", ['{"query": "q", "label": 42, "score": 1, "total": 2}',
                                           '{"prompt": "q", "answer": 4.0, "value": 0.5}',
                                           '{"prompt": "q", "answer": -2.5, "value": 0.5}'])
    assert [e.answer for e in read_jsonl(path)] == ["42", "4", "-2.5"]


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_jsonl(str(tmp_path / "nope.jsonl"))


class _ChatTok:
    chat_template = "x"

    def apply_chat_template(self, messages, add_generation_prompt, tokenize):
        assert add_generation_prompt and not tokenize
        return f"<|user|>{messages[0]['content']}<|assistant|>"


class _PlainTok:
    chat_template = None


def test_format_prompt():
    plain = Example("Q (1 of 50 points): 1+1 = ?", "2", 0.02)
    templated = Example("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "2", 0.02, templated=True)
    assert format_prompt(plain, None) == plain.prompt
    assert format_prompt(plain, _PlainTok()) == plain.prompt
    assert format_prompt(plain, _ChatTok()) == "<|user|>Q (1 of 50 points): 1+1 = ?<|assistant|>"
    assert format_prompt(templated, _ChatTok()) == templated.prompt
    assert looks_templated(templated.prompt) and not looks_templated(plain.prompt)


def test_extract_answer():
    assert extract_answer("3+4=7. Answer: 7") == "7"
    assert extract_answer("Answer: 1. Answer: B") == "B"
    assert extract_answer("no answer") is None
