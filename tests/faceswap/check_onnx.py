"""Runs a graft ONNX export with onnxruntime on the inputs of its check file
and compares with graft's outputs stored there. Prints the largest absolute
difference per output; exits 1 when one exceeds the tolerance.
usage: check_onnx.py model.onnx check.safetensors [tolerance]"""
import sys

import numpy as np
import onnxruntime
from safetensors.numpy import load_file

model, check = sys.argv[1], sys.argv[2]
tolerance = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
expected = load_file(check)
session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
names = [o.name for o in session.get_outputs()]
results = dict(zip(names, session.run(names, {"face": expected["face"]})))
worst = 0.0
for name in ("swapped", "mask"):
    got = results[name]
    if got.shape != expected[name].shape:
        print(f"{name}: shape {got.shape}, graft {expected[name].shape}")
        sys.exit(1)
    difference = float(np.max(np.abs(got - expected[name])))
    print(f"{name}: largest difference {difference:.3g}")
    worst = max(worst, difference)
sys.exit(0 if worst <= tolerance else 1)
