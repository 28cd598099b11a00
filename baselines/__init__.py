"""Baseline text-to-video models, installed as `t2vbench.baselines`: one module per model.

Each model has its config as data in `configs/<name>.json` ("impl": the class, defaults plus
per-budget overrides `smoke` / `quick` / `paper`); ablations are configs that inherit another model's
config, not copies of code. The configs folder is the model registry (`t2vbench.registry.MODELS`).
Importing this package is cheap (no torch).
"""
