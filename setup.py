"""Build and install rlev_fast.

- `rlev_fast/` is the library; the top-level `kernels/` folder is installed as `rlev_fast.kernels`.
- `csrc/` is built into the pybind11 extension `rlev_fast._verify`. Where no C++ compiler (or no
  pybind11) exists the install goes on without it and says so; `rlev_fast.verify` then falls back
  to its pure-Python twin.
"""
import glob
import os
import sys

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing when the C++ extension cannot be built."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler at all: distutils raises before any extension
            self._warn(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(exc, ext.name)

    @staticmethod
    def _warn(exc, name="rlev_fast._verify"):
        sys.stderr.write(
            f"\nWARNING: could not build the C++ extension {name} ({exc}).\n"
            "rlev_fast installs without it and uses the pure-Python verifier (slower, same answers).\n\n"
        )


def verify_extension():
    sources = sorted(glob.glob(os.path.join("csrc", "*.cpp")))
    if not sources:
        return []
    try:
        from pybind11.setup_helpers import Pybind11Extension
    except ImportError:
        sys.stderr.write("WARNING: pybind11 not found; building rlev_fast without rlev_fast._verify.\n")
        return []
    extra = ["-O3"] if sys.platform != "win32" else ["/O2"]
    return [
        Pybind11Extension(
            "rlev_fast._verify",
            sources,
            include_dirs=["csrc"],
            cxx_std=17,
            extra_compile_args=extra,
        )
    ]


def read_version():
    with open(os.path.join(HERE, "rlev_fast", "__init__.py")) as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=")[1].strip().strip("\"'")
    raise RuntimeError("__version__ not found in rlev_fast/__init__.py")


setup(
    name="rlev_fast",
    version=read_version(),
    description="Fast training library for RL with Explicit Human Values (RLEV): fused policy-loss "
    "kernels, a C++ answer verifier and a readable trainer.",
    long_description=open(os.path.join(HERE, "README.md")).read() if os.path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    # every subpackage (trainer/, experiments/, ...) found, not listed: a listed set silently dropped
    # rlev_fast.trainer from non-editable installs
    packages=find_packages(include=["rlev_fast", "rlev_fast.*"]) + ["rlev_fast.kernels"],
    package_dir={"rlev_fast": "rlev_fast", "rlev_fast.kernels": "kernels"},
    package_data={"rlev_fast": ["assets/*", "assets/**/*"]},
    ext_modules=verify_extension(),
    cmdclass={"build_ext": OptionalBuildExt},
    install_requires=[
        # A range that the CPU build 2.13.0 satisfies, so an installed torch is never replaced.
        "torch>=2.3,<2.15",
        "numpy",
        "transformers>=4.40",
        "tqdm",
        # the default run draws its PNG plots (rlev_fast/plots.py); TensorBoard stays optional
        "matplotlib",
        'triton>=3.0; platform_system == "Linux"',
    ],
    extras_require={
        "dev": ["pytest>=7", "hypothesis>=6"],
        "plots": [],  # kept so that `pip install rlev_fast[plots]` still works: matplotlib is a dependency now
        "tensorboard": ["tensorboard"],
    },
    zip_safe=False,
)
