"""Baseline text-to-video models, installed as `t2vbench.baselines`: one module per model."""
