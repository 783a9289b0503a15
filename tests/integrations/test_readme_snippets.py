"""README.md's "Use it from TRL / verl" section, run as written: every python block, and every python
command of its first bash block (output paths moved to a temporary folder). The verl config lines are
checked against verl's config in test_verl.py. Needs trl and verl (.ci/run's side venv)."""
import os
import re
import shlex
import subprocess
import sys

import pytest

pytest.importorskip("trl", reason="trl is not installed (.ci/run's side venv has it)")
pytest.importorskip("verl", reason="verl is not installed (.ci/run's side venv has it)")

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def section_blocks():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = text.index("## Use it from TRL / verl")
    end = text.index("\n## ", start + 10)
    return re.findall(r"```(\w+)\n(.*?)```", text[start:end], re.S)


def test_section_exists_with_snippets():
    kinds = [k for k, _ in section_blocks()]
    assert kinds.count("python") >= 3 and "bash" in kinds


@pytest.mark.parametrize("i", range(3))
def test_python_block_runs(i, tmp_path, monkeypatch):
    blocks = [code for kind, code in section_blocks() if kind == "python"]
    code = blocks[i].replace("/tmp/", str(tmp_path) + "/")
    monkeypatch.chdir(tmp_path)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]


def test_bash_commands_run(tmp_path):
    bash = next(code for kind, code in section_blocks() if kind == "bash")
    commands = [line for line in bash.splitlines() if line.startswith("python ")]
    assert len(commands) == 2
    for line in commands:
        argv = shlex.split(line.replace("/tmp/", str(tmp_path) + "/"))
        r = subprocess.run([sys.executable] + argv[1:], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, (line, r.stderr[-3000:])
    assert os.path.isfile(tmp_path / "trl_rlev" / "final" / "model.safetensors")
    assert os.path.isfile(tmp_path / "rlev_verl" / "train.parquet")
