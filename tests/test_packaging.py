"""What an install ships, and the checkout's top-level kernels/ folder not shadowing the PyPI `kernels`."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_non_editable_build_ships_every_subpackage(tmp_path):
    """`pip install .` copies what setup.py's build_py collects: every folder of rlev_fast/ with an
    __init__.py must be there (rlev_fast.trainer once was not), and kernels/ as rlev_fast/kernels."""
    build = tmp_path / "lib"
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = {os.path.relpath(d, ROOT) for d, _, files in os.walk(os.path.join(ROOT, "rlev_fast"))
                if "__init__.py" in files and "__pycache__" not in d}
    assert {"rlev_fast", os.path.join("rlev_fast", "trainer"), os.path.join("rlev_fast", "experiments")} <= expected
    for pkg in sorted(expected) + [os.path.join("rlev_fast", "kernels")]:
        assert (build / pkg / "__init__.py").is_file(), f"{pkg} missing from the build"
    for name in os.listdir(os.path.join(ROOT, "kernels")):
        if name.endswith(".py"):
            assert (build / "rlev_fast" / "kernels" / name).is_file(), f"kernels/{name} missing from the build"


def test_the_checkout_does_not_shadow_the_pypi_kernels_package():
    """transformers >= 5.25 imports the PyPI package `kernels`; run from the repository root (as
    `python -m rlev_fast.train` there is), our kernels/ folder comes first on sys.path."""
    try:
        import importlib.metadata as md

        md.version("kernels")
    except Exception:
        pytest.skip("the PyPI package `kernels` is not installed: nothing to shadow")
    code = "import kernels, sys; print(kernels.__file__); from rlev_fast.kernels import fused_policy_loss"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not proc.stdout.strip().startswith(os.path.join(ROOT, "kernels")), proc.stdout
