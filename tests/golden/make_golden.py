"""Writes the golden files of tests/golden/: inputs, outputs and gradients of kdcu's op families
as computed by PyTorch in float32, one small .safetensors file per family (names: README.md).

PyTorch is needed only to regenerate the committed files, never to build or test kdcu:
    /usr/bin/python3 tests/golden/make_golden.py      # Debian's python3-torch (CPU) is enough
Inputs are drawn in float64 from a fixed seed and rounded to float32; every gradient is that of
sum(out * w) for a fixed random w of out's shape, which is stored too. The script ends by
reading every file back with its own reader, comparing bit for bit, and recomputing the
closed-form results (softmax, KD loss and gradients, cross-entropy, BN statistics, linear) in
float64 with NumPy.
"""
import json
import os
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # the pyenv python3 on PATH has no torch; Debian's /usr/bin/python3 does
    sys.exit(f"make_golden.py needs PyTorch and NumPy ({e}); run it with /usr/bin/python3")

SEED = 20240611
OUT_DIR = os.path.dirname(os.path.abspath(__file__))
MAX_FILE_BYTES = 64 * 1024

DTYPE_NAMES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
NUMPY_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


# ------------------------------------------------------------------ safetensors, both directions

def save_safetensors(path, tensors, metadata):
    """tensors: list of (name, tensor) in file order; metadata: dict str -> str.
    The layout kdcu writes too: u64 LE header length, JSON header padded with spaces to a
    multiple of 8, then the little-endian data of each tensor, contiguous, in order."""
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
    """Returns ({name: np.ndarray} in header order, metadata), checking the layout strictly."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0 and 8 + n <= len(raw), path
    header = json.loads(raw[8:8 + n].decode())
    metadata = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out, expected_begin = {}, 0
    for name, e in header.items():
        begin, end = e["data_offsets"]
        assert begin == expected_begin, (path, name)  # contiguous, in order
        dtype = np.dtype(NUMPY_DTYPES[e["dtype"]]).newbyteorder("<")
        arr = np.frombuffer(data[begin:end], dtype=dtype).reshape(e["shape"])
        assert arr.size * dtype.itemsize == end - begin, (path, name)
        out[name] = arr
        expected_begin = end
    assert expected_begin == len(data), path
    return out, metadata


# ------------------------------------------------------------------ case building

class GoldenFile:
    """Collects the cases of one file: tensors named '<case>.<role>', parameters in metadata."""

    def __init__(self, name, gen):
        self.name, self.gen = name, gen
        self.tensors, self.cases = [], {}

    def randn(self, *shape, scale=1.0, shift=0.0):
        # Drawn in float64, then rounded: the stored float32 input is exactly what PyTorch used.
        x = torch.randn(tuple(shape), generator=self.gen, dtype=torch.float64) * scale + shift
        return x.float()

    def uniform(self, *shape, lo=0.0, hi=1.0):
        x = torch.rand(tuple(shape), generator=self.gen, dtype=torch.float64) * (hi - lo) + lo
        return x.float()

    def add_case(self, case, params, inputs, forward, grad_of=(), extra=()):
        """inputs: list of (role, tensor); grad_of: the roles whose gradients are stored as 'd<role>';
        forward(**inputs) -> out; extra: callables (inputs) -> list of (role, tensor) added after out."""
        assert case not in self.cases and "." not in case, case  # '<case>.<role>' splits at the first dot
        self.cases[case] = params
        leaves = {}
        for role, t in inputs:
            t = t.detach().clone()
            if role in grad_of:
                t.requires_grad_(True)
            leaves[role] = t
        for role, t in inputs:  # stored before forward: ops such as batch_norm update inputs in place
            self.tensors.append((f"{case}.{role}", t.detach().clone()))
        out = forward(**leaves)
        w = self.randn(*out.shape)
        (out * w).sum().backward()
        self.tensors.append((f"{case}.out", out))
        for role, t in extra(leaves) if callable(extra) else extra:
            self.tensors.append((f"{case}.{role}", t))
        self.tensors.append((f"{case}.w", w))
        for role in grad_of:
            g = leaves[role].grad
            assert g is not None, (case, role)
            self.tensors.append((f"{case}.d{role}", g))

    def write(self):
        for name, t in self.tensors:
            assert t.dtype in (torch.float32, torch.int64), name
            assert t.dtype == torch.int64 or torch.isfinite(t).all(), f"{self.name}: {name} is not finite"
        metadata = {"torch_version": torch.__version__, "seed": str(SEED),
                    "generator": "tests/golden/make_golden.py"}
        for case, params in self.cases.items():
            metadata[f"case.{case}"] = json.dumps(params, sort_keys=True)
        path = os.path.join(OUT_DIR, self.name)
        save_safetensors(path, self.tensors, metadata)
        return path


# ------------------------------------------------------------------ the op families

def softmax_t(gen):
    g = GoldenFile("softmax_t.safetensors", gen)
    for op, fn in (("softmax", F.softmax), ("log_softmax", F.log_softmax)):
        for T in (1, 4, 8):
            x = g.randn(5, 7, scale=3.0)
            g.add_case(f"{op}_t{T}", {"op": op, "T": T, "dim": -1}, [("x", x)],
                       lambda x, fn=fn, T=T: fn(x / T, dim=-1), grad_of=("x",))
        x = g.randn(2, 3, 4, scale=3.0)
        g.add_case(f"{op}_dim1_t4", {"op": op, "T": 4, "dim": 1}, [("x", x)],
                   lambda x, fn=fn: fn(x / 4, dim=1), grad_of=("x",))
    return g


def kd_loss(s, t, T):
    return F.kl_div(F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1), reduction="batchmean") * T * T


def kd_kl_div(gen):
    g = GoldenFile("kd_kl_div.safetensors", gen)
    for T in (1, 4, 8):
        s, t = g.randn(5, 7, scale=3.0), g.randn(5, 7, scale=3.0)
        g.add_case(f"kd_t{T}", {"op": "kd_kl_div", "T": T, "reduction": "batchmean"}, [("s", s), ("t", t)],
                   lambda s, t, T=T: kd_loss(s, t, T), grad_of=("s", "t"))
    # Large logits (scale 30): exp() of the raw values overflows float32, so only a max-subtracting
    # softmax gets these right. At T = 1 some teacher probabilities underflow to 0, where PyTorch's
    # target gradient (log(p_t) + 1 - log p_s) is NaN although the true value is 0: that case
    # stores the student gradient only. At T = 4 both gradients are finite and stored.
    for T, grads in ((1, ("s",)), (4, ("s", "t"))):
        s, t = g.randn(5, 7, scale=30.0), g.randn(5, 7, scale=30.0)
        g.add_case(f"kd_large_t{T}", {"op": "kd_kl_div", "T": T, "reduction": "batchmean", "logit_scale": 30},
                   [("s", s), ("t", t)], lambda s, t, T=T: kd_loss(s, t, T), grad_of=grads)
    return g


def cross_entropy(gen):
    g = GoldenFile("cross_entropy.safetensors", gen)
    cases = (("ce_mean", "mean", 0.0), ("ce_mean_ls01", "mean", 0.1), ("ce_sum", "sum", 0.0),
             ("ce_none", "none", 0.0))
    for case, reduction, ls in cases:
        logits = g.randn(5, 7, scale=2.0)
        labels = torch.randint(0, 7, (5,), generator=gen, dtype=torch.int64)
        g.add_case(case, {"op": "cross_entropy", "reduction": reduction, "label_smoothing": ls},
                   [("logits", logits), ("labels", labels)],
                   lambda logits, labels, r=reduction, ls=ls: F.cross_entropy(logits, labels, reduction=r,
                                                                              label_smoothing=ls),
                   grad_of=("logits",))
    return g


def conv2d(gen):
    g = GoldenFile("conv2d.safetensors", gen)
    cases = (  # case, x shape, weight shape, bias, stride, padding, dilation
        ("conv_s1p1", (2, 3, 7, 5), (4, 3, 3, 3), True, 1, 1, 1),
        ("conv_s2p0_nobias", (2, 3, 7, 6), (5, 3, 3, 3), False, 2, 0, 1),
        ("conv_dil2", (2, 3, 7, 6), (4, 3, 3, 3), True, 1, 2, 2),
        ("conv_1x1_s2_nobias", (2, 3, 7, 5), (4, 3, 1, 1), False, 2, 0, 1),
    )
    for case, xs, ws, has_bias, stride, pad, dil in cases:
        inputs = [("x", g.randn(*xs)), ("weight", g.randn(*ws, scale=0.3))]
        if has_bias:
            inputs.append(("bias", g.randn(ws[0], scale=0.5)))
        params = {"op": "conv2d", "stride": stride, "padding": pad, "dilation": dil, "bias": has_bias}

        def fwd(x, weight, bias=None, stride=stride, pad=pad, dil=dil):
            return F.conv2d(x, weight, bias, stride=stride, padding=pad, dilation=dil)

        g.add_case(case, params, inputs, fwd, grad_of=[r for r, _ in inputs])
    return g


def batch_norm(gen):
    g = GoldenFile("batch_norm.safetensors", gen)
    momentum, eps = 0.1, 1e-5
    for case, shape in (("bn2d", (5, 7, 3, 3)), ("bn1d", (5, 7))):
        C = shape[1]
        for training in (True, False):
            name = f"{case}_{'train' if training else 'eval'}"
            inputs = [("x", g.randn(*shape, scale=2.0, shift=0.5)), ("weight", g.randn(C, scale=0.5, shift=1.0)),
                      ("bias", g.randn(C, scale=0.5)), ("running_mean", g.randn(C, scale=0.3)),
                      ("running_var", g.uniform(C, lo=0.5, hi=1.5))]
            params = {"op": "batch_norm", "training": training, "momentum": momentum, "eps": eps}

            def fwd(x, weight, bias, running_mean, running_var, training=training):
                return F.batch_norm(x, running_mean, running_var, weight, bias, training=training,
                                    momentum=momentum, eps=eps)

            # After forward, the leaves' running stats hold PyTorch's update (unbiased variance).
            extra = (lambda leaves: [("running_mean_updated", leaves["running_mean"]),
                                     ("running_var_updated", leaves["running_var"])]) if training else ()
            g.add_case(name, params, inputs, fwd, grad_of=("x", "weight", "bias"), extra=extra)
    return g


def max_pool2d(gen):
    g = GoldenFile("max_pool2d.safetensors", gen)
    for case, k, s, p in (("pool_k2s2", 2, 2, 0), ("pool_k3s2p1", 3, 2, 1)):
        x = g.randn(2, 3, 7, 6)  # continuous values: no ties, so the argmax is unique
        g.add_case(case, {"op": "max_pool2d", "kernel": k, "stride": s, "padding": p}, [("x", x)],
                   lambda x, k=k, s=s, p=p: F.max_pool2d(x, k, s, p), grad_of=("x",))
    return g


def linear(gen):
    g = GoldenFile("linear.safetensors", gen)
    for case, has_bias in (("linear_bias", True), ("linear_nobias", False)):
        inputs = [("x", g.randn(5, 7)), ("weight", g.randn(3, 7, scale=0.4))]
        if has_bias:
            inputs.append(("bias", g.randn(3, scale=0.5)))
        g.add_case(case, {"op": "linear", "bias": has_bias}, inputs,
                   lambda x, weight, bias=None: F.linear(x, weight, bias), grad_of=[r for r, _ in inputs])
    return g


FAMILIES = (softmax_t, kd_kl_div, cross_entropy, conv2d, batch_norm, max_pool2d, linear)


def self_check(golden, path):
    loaded, metadata = load_safetensors(path)
    assert list(loaded) == [n for n, _ in golden.tensors], path
    for name, t in golden.tensors:
        ref = t.detach().numpy()
        got = loaded[name]
        assert got.dtype == ref.dtype and got.shape == ref.shape, (path, name)
        assert np.array_equal(got, ref), (path, name)
    assert metadata["torch_version"] == torch.__version__
    for case, params in golden.cases.items():
        assert json.loads(metadata[f"case.{case}"]) == params, (path, case)
    size = os.path.getsize(path)
    assert size < MAX_FILE_BYTES, f"{path} is {size} bytes"
    return size


def softmax64(x, axis):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def float64_cross_check(path):
    """Recomputes the closed-form results in float64 with NumPy, independently of PyTorch."""
    tensors, metadata = load_safetensors(path)
    worst = 0.0

    def near(got, ref, name):
        nonlocal worst
        err = float(np.max(np.abs(got.astype(np.float64) - ref) / (1e-3 + np.abs(ref)), initial=0.0))
        assert err < 1e-4, f"{path}: {name} differs from float64 by {err:.2e} (relative)"
        worst = max(worst, err)

    for key, value in metadata.items():
        if not key.startswith("case."):
            continue
        case, p = key[len("case."):], json.loads(value)
        get = lambda role: tensors[f"{case}.{role}"]  # noqa: E731
        if p["op"] in ("softmax", "log_softmax"):
            ref = softmax64(get("x") / p["T"], p["dim"])
            near(get("out"), np.log(ref) if p["op"] == "log_softmax" else ref, case)
        elif p["op"] == "kd_kl_div":
            T, s, t, w = p["T"], get("s"), get("t"), float(get("w"))
            ps, pt = softmax64(s / T, 1), softmax64(t / T, 1)
            B = s.shape[0]
            log_ratio = np.log(np.maximum(pt, 1e-300)) - np.log(ps)
            near(get("out"), T * T * np.sum(pt * log_ratio) / B, case)
            near(get("ds"), w * (T / B) * (ps - pt), case + ".ds")  # DESIGN.md's closed form
            if f"{case}.dt" in tensors:
                kl_rows = np.sum(pt * log_ratio, axis=1, keepdims=True)
                near(get("dt"), w * (T / B) * pt * (log_ratio - kl_rows), case + ".dt")
        elif p["op"] == "cross_entropy":
            logits, labels, ls = get("logits"), get("labels"), p["label_smoothing"]
            logp = np.log(softmax64(logits, 1))
            per_row = -(1 - ls) * logp[np.arange(len(labels)), labels] - ls / logits.shape[1] * logp.sum(1)
            ref = {"mean": per_row.mean(), "sum": per_row.sum(), "none": per_row}[p["reduction"]]
            near(get("out"), ref, case)
        elif p["op"] == "batch_norm" and p["training"]:
            x = get("x").astype(np.float64)
            axes = (0,) + tuple(range(2, x.ndim))
            n = x.size // x.shape[1]
            m = p["momentum"]
            near(get("running_mean_updated"), (1 - m) * get("running_mean") + m * x.mean(axes), case)
            near(get("running_var_updated"), (1 - m) * get("running_var") + m * x.var(axes) * n / (n - 1), case)
        elif p["op"] == "linear":
            ref = get("x").astype(np.float64) @ get("weight").astype(np.float64).T
            near(get("out"), ref + (get("bias") if p["bias"] else 0), case)
    return worst


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # one thread: reductions in the same order every run
    torch.use_deterministic_algorithms(True)
    for family in FAMILIES:
        gen = torch.Generator().manual_seed(SEED)
        golden = family(gen)
        path = golden.write()
        size = self_check(golden, path)
        worst = float64_cross_check(path)
        print(f"{os.path.relpath(path)}: {len(golden.cases)} cases, {len(golden.tensors)} tensors, {size} bytes; "
              f"float64 cross-check worst relative error {worst:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
