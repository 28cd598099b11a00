"""Dataset builders, installed as `t2vbench.generators`: one sub-package per dataset family."""
