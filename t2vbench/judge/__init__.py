"""The judges: small networks that read back what a caption promises (digit and motion per slot; KTH-4:
action and direction), the evaluation's eyes.

model.py (the network, its file format, the shipped judges), reader.py (the crop readers of two-digit
judges), recipe.py (the training recipe as data), train.py (`t2vbench judge train` and the certificate),
weights/ (the shipped judges and judges.json, their certificates). Importing this package is cheap.
"""
