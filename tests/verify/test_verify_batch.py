"""verify_batch never aborts the process: the thread count is capped (MAX_THREADS and the machine's
cores), and a thread that cannot be created (std::system_error) leaves the batch to the threads it has.
The limits are set in subprocesses that load the extension alone (no torch), so that their
address space is small and known."""
import importlib
import os
import subprocess
import sys
import textwrap

import pytest

V = importlib.import_module("rlev_fast.verify")  # the module (the package root exports the function `verify`)

pytestmark = pytest.mark.skipif(not V.cpp_available(), reason="C++ extension rlev_fast._verify is not built")

_LOAD = """
import importlib.util, resource, threading, sys
spec = importlib.util.spec_from_file_location("_verify", PATH)
C = importlib.util.module_from_spec(spec)
spec.loader.exec_module(C)
rs = [b"\\\\boxed{%d}" % (i % 7) for i in range(3000)]
gs = [b"%d" % (i % 5) for i in range(3000)]
want = [(i % 7) == (i % 5) for i in range(3000)]
assert list(C.verify_batch(rs, gs, 1)) == want
"""


def _run(code):
    from rlev_fast import _verify
    src = textwrap.dedent(_LOAD.replace("PATH", repr(_verify.__file__))) + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, timeout=300,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    return out


def test_forty_thousand_threads_requested():
    rs = ["\\boxed{1}"] * 40000
    assert V.verify_batch(rs, ["1"] * 40000, num_threads=40000) == [True] * 40000
    assert V.verify_batch(rs[:3], ["2"] * 3, num_threads=40000) == [False] * 3


def test_five_thousand_threads_under_a_4_gib_address_space():
    out = _run("""
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        assert list(C.verify_batch(rs, gs, 5000)) == want
        print("ok")
    """)
    assert out.returncode == 0 and out.stdout.strip() == "ok", (out.returncode, out.stderr[-2000:])


def test_thread_creation_failure_goes_on_with_fewer_threads():
    """Address space for no further thread stack: creating threads fails (checked with a Python
    thread first), and the batch still finishes with the right answers on the calling thread."""
    out = _run("""
        used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (used + (4 << 20), used + (4 << 20)))
        try:
            threading.Thread(target=lambda: None).start()
            made = True
        except RuntimeError:
            made = False
        got = list(C.verify_batch(rs, gs, 64))
        print("ok" if got == want else "wrong", made)
    """)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert out.stdout.split() == ["ok", "False"], out.stdout


def test_batch_answers_do_not_depend_on_threads():
    rs = ["\\boxed{%d}" % (i % 9) for i in range(2000)] + ["The answer is not \\boxed{3}."] * 50
    gs = ["%d" % (i % 4) for i in range(2000)] + ["3"] * 50
    one = V.verify_batch(rs, gs, num_threads=1)
    assert V.verify_batch(rs, gs, num_threads=2) == one
    assert V.verify_batch(rs, gs, num_threads=0) == one
    assert one == [V.verify(r, g) for r, g in zip(rs, gs)]
