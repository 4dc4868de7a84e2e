"""Writes the model interop golden files of tests/golden/: for resnet20 and cnn_small (1 input
channel, 28x28, 10 classes), a PyTorch state_dict with non-trivial BatchNorm state, a fixed input,
and PyTorch's eval-mode and train-mode logits, so tests/cpu/test_nn_interop.cpp can check that the
state_dict loads into kdcu's model of the same name and gives the same logits.

    /usr/bin/python3 tests/golden/make_models.py      # Debian's python3-torch (CPU) is enough

The architectures come from tests/golden/reference_models.py (the project's reference
architectures, kept in the repository), so the script runs from the repository alone.
Deterministic (fixed seed, one thread): rerunning it with the same PyTorch rewrites identical files.
Tensor names and what they hold: tests/golden/README.md, "Model interop files".
"""
import json
import os
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError as e:  # the pyenv python3 on PATH has no torch; Debian's /usr/bin/python3 does
    sys.exit(f"make_models.py needs PyTorch and NumPy ({e}); run it with /usr/bin/python3")

SEED = 20240612
OUT_DIR = os.path.dirname(os.path.abspath(__file__))
MAX_FILE_BYTES = 1536 * 1024
DTYPE_NAMES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
NUMPY_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


# ------------------------------------------------------------------ the reference architectures
# One copy for every script: tests/golden/reference_models.py.
from reference_models import CnnSmall, Mlp, resnet18, resnet_cifar  # noqa: E402 (the reference architectures)


MODELS = {"resnet20": lambda: resnet_cifar(20), "cnn_small": lambda: CnnSmall()}

# Every model of kdcu's registry (resnet44 is not in the reference's table but is resnet_cifar(44)),
# for the state_dict fingerprints of tests/cpu/test_nn_models.cpp (--fingerprints).
ALL_MODELS = {
    "resnet20": lambda: resnet_cifar(20), "resnet32": lambda: resnet_cifar(32),
    "resnet44": lambda: resnet_cifar(44), "resnet56": lambda: resnet_cifar(56),
    "resnet110": lambda: resnet_cifar(110), "resnet20x4": lambda: resnet_cifar(20, width_mult=4),
    "resnet18": resnet18, "cnn_small": CnnSmall,
    "mlp_teacher": lambda: Mlp(hidden=(1200, 1200), dropout=0.5),
    "mlp_student": lambda: Mlp(hidden=(800, 800)),
}


def print_fingerprints():
    """One C++ initialiser per model: parameter count, state_dict entries, state_dict elements and
    the FNV-1a 64 hash of the lines "name[d0, d1, ...]\n" in state_dict order (kdcu's shape_str)."""
    for name, make in ALL_MODELS.items():
        sd = make().state_dict()
        text = "".join(f"{k}[{', '.join(str(d) for d in v.shape)}]\n" for k, v in sd.items())
        h = 0xcbf29ce484222325
        for b in text.encode():
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
        params = sum(p.numel() for k, p in make().named_parameters())
        print(f'{{"{name}", {params}, {len(sd)}, {sum(v.numel() for v in sd.values())}, 0x{h:016x}ull}},')


# ------------------------------------------------------------------ safetensors, both directions

def save_safetensors(path, tensors, metadata):
    """tensors: list of (name, tensor) in file order. u64 LE header length, JSON header padded
    with spaces to a multiple of 8, then each tensor's little-endian data, contiguous, in order."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors:
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode())
    metadata = header.pop("__metadata__", {})
    data, out = raw[8 + n:], {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        dtype = np.dtype(NUMPY_DTYPES[e["dtype"]]).newbyteorder("<")
        out[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(e["shape"])
    return out, metadata


# ------------------------------------------------------------------ the files

def kaiming_convs(model):
    """kdcu's ResNet init (torchvision's): kaiming_normal_(fan_out, relu) for every conv, so the
    activations keep their scale through 20 layers and the logits depend visibly on the input."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def randomise_batch_norm(model, gen):
    """Non-trivial BN state, so eval mode really uses the running statistics and the affine
    parameters: running_mean ~ N(0, 0.1), running_var ~ U(0.5, 1.5), weight ~ U(0.5, 1.5),
    bias ~ N(0, 0.1), num_batches_tracked a random integer in [1, 1000)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))


def make(name):
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model = MODELS[name]()
    if name.startswith("resnet"):
        kaiming_convs(model)
    randomise_batch_norm(model, gen)
    x = torch.randn(2, 1, 28, 28, generator=gen)
    state = [(f"model.{k}", v.clone()) for k, v in model.state_dict().items()]
    with torch.no_grad():
        model.eval()
        logits_eval = model(x)
        model.train()
        logits_train = model(x)  # batch statistics; updates the running ones in place
    after = [(f"after_train.{k}", v.clone()) for k, v in model.state_dict().items()
             if k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    tensors = state + [("x", x), ("logits_eval", logits_eval), ("logits_train", logits_train)] + after
    metadata = {"torch_version": torch.__version__, "seed": str(SEED), "model": name,
                "config": json.dumps({"in_channels": 1, "image_size": 28, "num_classes": 10})}
    path = os.path.join(OUT_DIR, f"{name}.safetensors")
    save_safetensors(path, tensors, metadata)

    # Read back and compare bit for bit; keep the files small.
    back, meta = load_safetensors(path)
    assert meta == metadata, path
    assert list(back) == [n for n, _ in tensors], path
    for n, t in tensors:
        assert np.array_equal(back[n], t.numpy()), (path, n)
    size = os.path.getsize(path)
    assert size <= MAX_FILE_BYTES, (path, size)
    # A train-mode forward must differ from eval (BN really exercised) for the ResNet.
    gap = (logits_eval - logits_train).abs().max().item()
    print(f"{path}: {len(tensors)} tensors, {size} bytes, |eval - train| max {gap:.3g}")


if __name__ == "__main__":
    if "--fingerprints" in sys.argv:
        print_fingerprints()
        sys.exit(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for name in MODELS:
        make(name)
