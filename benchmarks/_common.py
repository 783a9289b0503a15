"""Helpers shared by the benchmark scripts: percentiles and the machine they ran on."""
import importlib.metadata
import os
import platform
import sys


def percentile(xs, q):
    """Linear-interpolated q-quantile (q in [0, 1]) of a non-empty sequence; NaN when empty."""
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def cpu_model(default=None):
    """The CPU's model name from /proc/cpuinfo (Linux), else `default` or platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return default if default is not None else (platform.processor() or platform.machine())


def load_average():
    """The 1-minute load average (None where the OS has none): a busy machine slows every provider."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def hardware(device=None, packages=()):
    """The machine a benchmark ran on: CPU, cores, load, Python; torch and its thread count when torch
    is imported; the GPU when `device` is a CUDA device; the versions of `packages` installed."""
    hw = {"cpu": cpu_model("unknown CPU"), "cores": os.cpu_count(), "load_avg_1m_at_start": load_average(),
          "python": platform.python_version(), "platform": platform.platform()}
    torch = sys.modules.get("torch")
    if torch is not None:
        hw.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
        if device is not None and getattr(device, "type", str(device)) == "cuda":
            hw.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda)
    for name in packages:
        try:
            hw[name.replace("-", "_")] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return hw
