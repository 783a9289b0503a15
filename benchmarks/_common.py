"""Helpers shared by the benchmark scripts: percentiles and the CPU's name."""
import platform


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
