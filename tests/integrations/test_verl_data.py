"""python -m rlev_fast.integrations.verl_data: RLEV JSONL -> verl parquet, read back by verl's own
RLHFDataset and scored by compute_score. The parquet needs pyarrow, RLHFDataset needs verl: skipped
with the reason where they are missing (.ci/run's side venv has both)."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("pyarrow", reason="pyarrow is not installed (it comes with verl)")

from rlev_fast.integrations import verl_data  # noqa: E402

CHATML = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
ROWS = [
    {"query": CHATML, "label": "4", "score": 5, "total": 100, "exam_id": "e1"},
    {"prompt": "Q (8 of 50 points): 7+8-5+6 = ?", "answer": "16", "value": 0.16},
    {"prompt": "How many sides has a hexagon?", "answer": "6", "score": 20, "total": 100},
]


def write(tmp_path, rows, name="in.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def test_convert_and_read_back_with_verls_dataset(tmp_path):
    src, dst = write(tmp_path, ROWS), str(tmp_path / "out" / "train.parquet")
    r = subprocess.run([sys.executable, "-m", "rlev_fast.integrations.verl_data", src, dst], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "wrote 3 rows" in r.stdout
    import pyarrow.parquet as pq

    rows = pq.read_table(dst).to_pylist()
    assert rows[0]["prompt"] == [{"role": "system", "content": "You are a helpful assistant."},
                                 {"role": "user", "content": "What is 2+2?"}]
    assert rows[1]["prompt"] == [{"role": "user", "content": ROWS[1]["prompt"]}]
    assert [row["reward_model"] for row in rows] == [{"style": "rule", "ground_truth": g} for g in ("4", "16", "6")]
    assert [row["extra_info"]["value"] for row in rows] == pytest.approx([0.05, 0.16, 0.2])
    assert rows[0]["extra_info"]["score"] == 5 and rows[1]["extra_info"]["total"] is None
    assert rows[0]["extra_info"]["exam_id"] == "e1" and rows[2]["extra_info"]["index"] == 2

    pytest.importorskip("verl", reason="verl is not installed")
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    import rlev_fast.integrations.verl as rv
    from rlev_fast.policy import build_tokenizer

    tok = build_tokenizer()
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    ds = RLHFDataset(dst, tok, OmegaConf.create({"max_prompt_length": 256, "cache_dir": str(tmp_path / "cache")}))
    assert len(ds) == 3
    item = ds[1]
    assert item["raw_prompt"][0]["content"] == ROWS[1]["prompt"]
    # what verl's NaiveRewardManager passes to a custom compute_score
    got = rv.compute_score(item["data_source"], "7+8=15. 15-5=10. 10+6=16. Answer: 16",
                           item["reward_model"]["ground_truth"], item["extra_info"])
    assert got["score"] == pytest.approx(2.0) and got["rlev_value"] == pytest.approx(0.16)


def test_embedded_exam(tmp_path):
    dst = str(tmp_path / "exam.parquet")
    assert verl_data.main(["--embedded", "test", dst]) == 0
    import pyarrow.parquet as pq

    rows = pq.read_table(dst).to_pylist()
    assert len(rows) == 125 and rows[0]["extra_info"]["split"] == "test"
    assert all(0 < row["extra_info"]["value"] <= 1 for row in rows)


def test_bad_input_writes_nothing(tmp_path, capsys):
    dst = tmp_path / "out.parquet"
    bad = write(tmp_path, ROWS[:2] + [{"prompt": "x", "answer": "1", "score": 12, "total": 10}])
    assert verl_data.main([bad, str(dst)]) == 2
    assert "in.jsonl line 3: score 12 > total 10" in capsys.readouterr().err
    assert not dst.exists() and not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]
    other = write(tmp_path, [{"prompt": "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>", "answer": "1",
                              "value": 0.1, "templated": True}], "llama.jsonl")
    assert verl_data.main([other, str(dst)]) == 2
    assert "row 1: the prompt is chat-templated, but not as ChatML turns" in capsys.readouterr().err
    assert not dst.exists()
