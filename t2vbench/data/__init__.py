"""The shard format (HDF5 + manifest.json), its atomic writer and the PyTorch Dataset over it."""
