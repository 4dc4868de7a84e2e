#!/usr/bin/env python3
"""Runs kdcu's CUDA KD-loss microbenchmark (bench_kd_cuda) and times PyTorch's usual KD recipe on
the same GPU in the same run, the same way (CUDA events, L2 flushed before every run, median of 50
after warm-up), and prints one table: kdcu fused, kdcu composed, PyTorch eager and torch.compile
(where it works), the ratios, and the
fused kernel's achieved bandwidth against the measured device-to-device copy and the device's
peak.

    python3 bench/compare_torch_cuda.py [--bench build/gpu/bench/bench_kd_cuda] [--quick] [--json]

Needs a PyTorch built with CUDA (any recent one); it is a peer to compare against, never a build
or test dependency. PyTorch's loss:
    F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit("compare_torch_cuda.py: PyTorch is not installed for this Python")

# Memory bandwidth from the vendors' data sheets, bytes/s, by a substring of the device name.
PEAK_BYTES_PER_S = {"H200": 4.8e12, "H100 SXM": 3.35e12, "H100 PCIe": 2.0e12, "H100": 3.35e12, "A100": 2.0e12}

RUNS, WARMUP = 50, 3


def peak_for(name):
    for key, value in PEAK_BYTES_PER_S.items():
        if key in name:
            return value
    return None


def time_cuda(fn, flush):
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(WARMUP):
        fn()
    samples = []
    for _ in range(RUNS):
        flush()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        samples.append(start.elapsed_time(stop) * 1e-3)
    return statistics.median(samples)


def kd_recipe(s, t, T):
    return F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T


ALPHA = 0.9  # bench_kd_cuda's kd_hard_loss weight


def torch_kd_seconds(B, C, T, flush, loss_fn=kd_recipe, hard=False):
    """One forward + backward of the KD recipe, or with hard=True of ALPHA * KD + (1 - ALPHA) * CE
    with bench_kd_cuda's labels ((b * 7919) % C)."""
    g = torch.Generator(device="cuda").manual_seed(0)
    s = (torch.randn(B, C, device="cuda", generator=g) * 3).requires_grad_()
    t = torch.randn(B, C, device="cuda", generator=g) * 3
    y = (torch.arange(B, device="cuda") * 7919) % C

    def step():
        loss = loss_fn(s, t, T)
        if hard:
            loss = ALPHA * loss + (1.0 - ALPHA) * F.cross_entropy(s, y)
        loss.backward()
        s.grad = None

    return time_cuda(step, flush)


def compiled_recipe():
    """torch.compile of the recipe (forward and, through AOTAutograd, backward), or (None, reason)."""
    if not hasattr(torch, "compile"):
        return None, f"PyTorch {torch.__version__} has no torch.compile"
    try:
        fn = torch.compile(kd_recipe)
        x = torch.randn(4, 10, device="cuda", requires_grad=True)
        fn(x, torch.randn(4, 10, device="cuda"), 4.0).backward()
        return fn, ""
    except Exception as e:  # a missing compiler toolchain, an unsupported GPU, ...
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default=os.path.join(here, "..", "build", "gpu", "bench", "bench_kd_cuda"))
    ap.add_argument("--quick", action="store_true", help="skip the largest size")
    ap.add_argument("--json", action="store_true", help="one JSON object per size instead of the table")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("compare_torch_cuda.py: skipped: PyTorch sees no CUDA device")
        return 0
    if not os.path.exists(args.bench):
        sys.exit(f"compare_torch_cuda.py: {args.bench} not found; build the CUDA backend first")
    cmd = [args.bench, "--json"] + (["--quick"] if args.quick else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if not rows:
        sys.exit(f"compare_torch_cuda.py: {args.bench} printed no results:\n{out}")
    T = 4.0
    name = torch.cuda.get_device_name(0)
    peak = peak_for(name)
    l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 64 << 20)
    scratch = torch.empty(max(4 * l2, 1 << 20) // 4, device="cuda")
    flush = scratch.zero_
    if not args.json:
        peak_text = f"peak {peak / 1e12:.2f} TB/s (data sheet)" if peak else "peak unknown for this device"
        print(f"KD loss fwd+bwd, f32, {name}, T = {T:g}; PyTorch {torch.__version__}; D2D copy "
              f"{rows[0]['copy_gbs']:.0f} GB/s; {peak_text}; median of {RUNS}, L2 flushed")
    compiled, why_not = compiled_recipe()
    if not args.json:
        if compiled is None:
            print(f"torch.compile: unavailable ({why_not})")
        print(f"{'op':<13} {'B x C':<14} {'fused us':>10} {'GB/s':>8} {'% peak':>7} {'composed us':>12} {'PyTorch us':>11} "
              f"{'composed/fused':>15} {'PyTorch/fused':>14}" + (f" {'compiled us':>12} {'compiled/fused':>15}"
                                                                   if compiled else ""))
    for r in rows:
        hard = r["op"].startswith("kd_hard")
        pt = torch_kd_seconds(r["B"], r["C"], T, flush, hard=hard)
        ct = torch_kd_seconds(r["B"], r["C"], T, flush, compiled, hard=hard) if compiled else None
        fused_s = r["fused_us"] * 1e-6
        pct_peak = 100.0 * r["gbs"] * 1e9 / peak if peak else float("nan")
        if args.json:
            print(json.dumps({**r, "torch_us": pt * 1e6, "torch_over_fused": pt / fused_s, "pct_peak": pct_peak,
                              "torch": torch.__version__, "compiled_us": ct * 1e6 if ct else None,
                              "compiled_over_fused": ct / fused_s if ct else None,
                              "compile_unavailable": why_not or None}))
        else:
            print(f"{r['op'].replace('_fwd_bwd', ''):<13} {str(r['B']) + ' x ' + str(r['C']):<14} {r['fused_us']:>10.1f} {r['gbs']:>8.1f} {pct_peak:>6.1f}% "
                  f"{r['composed_us']:>12.1f} {pt * 1e6:>11.1f} {r['ratio']:>14.2f}x {pt / fused_s:>13.2f}x"
                  + (f" {ct * 1e6:>12.1f} {ct / fused_s:>14.2f}x" if ct else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
