"""Triton kernels of rlev_fast, installed as `rlev_fast.kernels`. Importing this package does not import triton.

Run from a checkout (`python -m rlev_fast.train` or `python -m pytest` in the repository root), the
root is on sys.path and this folder is also importable as a top-level `kernels`, the name of the
PyPI package that transformers (5.25 and newer) requires and imports (`from kernels import
CUDAProperties, ...`). Imported under that name, this module hands the import on to the installed
package, so the checkout does not shadow it.
"""
if __name__ == "kernels":
    import importlib.machinery as _machinery
    import importlib.util as _util
    import os as _os
    import sys as _sys

    _root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    _elsewhere = [p for p in _sys.path if _os.path.abspath(p or _os.getcwd()) != _root]
    _spec = _machinery.PathFinder.find_spec("kernels", _elsewhere)
    if _spec is not None:
        _module = _util.module_from_spec(_spec)
        _sys.modules["kernels"] = _module  # the import statement returns what sys.modules holds afterwards
        _spec.loader.exec_module(_module)
