"""Checks the kdcu -> PyTorch direction of weight interop: loads the files written by kdcu's
tests/cpu/test_nn_export.cpp (NnExport.*) into the PyTorch reference models with strict=True and
compares PyTorch's logits with kdcu's.

    KDCU_EXPORT_DIR=/tmp/kx build/default/tests/kdcu_tests_cpu --gtest_filter='NnExport.*'
    /usr/bin/python3 tests/golden/check_kdcu_export.py /tmp/kx     # or the files themselves

Each file kdcu_export_<model>.safetensors holds "model.<state_dict name>" tensors, the input "x",
kdcu's eval-mode logits "logits_eval" and (optionally) train-mode logits "logits_train", and
metadata "model" and "config" (a JSON object of in_channels, image_size, num_classes). Logits
must agree with |kdcu - torch| <= 1e-4 + 1e-4 |torch| (the tolerance of test_nn_interop.cpp);
the largest difference is printed for every file. Exits 0 when every file matches, 1 on any
mismatch or when no file is found, 2 without PyTorch.

The architectures come from tests/golden/reference_models.py, so the script runs from the
repository alone.
"""
import glob
import json
import os
import struct
import sys

try:
    import numpy as np
    import torch
except ImportError as e:  # the pyenv python3 on PATH has no torch; Debian's /usr/bin/python3 does
    print(f"check_kdcu_export.py needs PyTorch and NumPy ({e}); run it with /usr/bin/python3")
    sys.exit(2)

RTOL = ATOL = 1e-4
NUMPY_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


# ------------------------------------------------------------------ the reference architectures
# One copy for every script: tests/golden/reference_models.py.
from reference_models import CnnSmall, resnet_cifar  # noqa: E402


# The ResNets take in_channels and num_classes; CnnSmall also image_size.
MODELS = {
    "resnet20": lambda cfg: resnet_cifar(20, in_channels=cfg["in_channels"], num_classes=cfg["num_classes"]),
    "cnn_small": lambda cfg: CnnSmall(**cfg),
}


# ------------------------------------------------------------------ safetensors reading

def load_safetensors(path):
    """(tensors in file order as {name: torch tensor}, metadata). Little-endian data, copied."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode())
    metadata = header.pop("__metadata__", {})
    data, out = raw[8 + n:], {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = e["data_offsets"]
        dtype = np.dtype(NUMPY_DTYPES[e["dtype"]]).newbyteorder("<")
        array = np.frombuffer(data[begin:end], dtype=dtype).reshape(e["shape"])
        out[name] = torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=True))
    return out, metadata


# ------------------------------------------------------------------ the check

def compare(what, actual, expected):
    """Returns (ok, max |actual - expected|) under |a - e| <= ATOL + RTOL |e|."""
    if actual.shape != expected.shape:
        print(f"  {what}: shape {tuple(actual.shape)}, kdcu's is {tuple(expected.shape)}")
        return False, float("inf")
    diff = (actual.double() - expected.double()).abs()
    bound = ATOL + RTOL * expected.double().abs()
    ok = bool((diff <= bound).all()) and bool(torch.isfinite(actual).all())
    return ok, diff.max().item()


def check_file(path):
    try:
        tensors, metadata = load_safetensors(path)
    except (OSError, ValueError, KeyError) as e:
        print(f"{path}: cannot read it as a safetensors file: {e}")
        return False
    missing = [k for k in ("x", "logits_eval") if k not in tensors]
    if missing:
        print(f"{path}: no tensor {', '.join(missing)}")
        return False
    name = metadata.get("model")
    if name not in MODELS:
        print(f"{path}: metadata 'model' is {name!r}, expected one of {sorted(MODELS)}")
        return False
    cfg = json.loads(metadata.get("config", "{}")) or {"in_channels": 1, "image_size": 28, "num_classes": 10}
    model = MODELS[name](cfg)
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=True)  # every name both ways, every shape
    except RuntimeError as e:
        print(f"{path}: the kdcu weights do not load strictly into PyTorch's {name}: {e}")
        return False
    x = tensors["x"]
    ok = True
    with torch.no_grad():
        model.eval()
        good, worst = compare("logits_eval", model(x), tensors["logits_eval"])
        print(f"{path}: {name} eval  max |kdcu - torch| = {worst:.3g} {'ok' if good else 'MISMATCH'}")
        ok &= good
        if "logits_train" in tensors:
            model.train()
            good, worst = compare("logits_train", model(x), tensors["logits_train"])
            print(f"{path}: {name} train max |kdcu - torch| = {worst:.3g} {'ok' if good else 'MISMATCH'}")
            ok &= good
    return ok


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 1
    paths = []
    for arg in argv[1:]:
        paths += sorted(glob.glob(os.path.join(arg, "kdcu_export_*.safetensors"))) if os.path.isdir(arg) else [arg]
    if not paths:
        print(f"no kdcu_export_*.safetensors in {argv[1:]}")
        return 1
    torch.set_num_threads(1)
    results = [check_file(p) for p in paths]
    print(f"{sum(results)} of {len(results)} files match PyTorch at rtol = atol = {RTOL:g}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
