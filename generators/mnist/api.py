"""Convenience: `make_mnist_dataset("smnist4", out, n=2000, digits=...)` (same as the CLI)."""
from t2vbench.data.build import make_dataset as make_mnist_dataset  # noqa: F401
