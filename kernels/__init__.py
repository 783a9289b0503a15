"""Triton kernels of rlev_fast, installed as `rlev_fast.kernels`. Importing this package does not import triton."""
