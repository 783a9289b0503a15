"""Experiment runners (the paper reproduction grid)."""
