#!/usr/bin/python3
"""Runs kdcu's KD-loss microbenchmark and times the same loss in PyTorch (eager, CPU) in the same
run, with the same thread count (eager, and torch.compile where this PyTorch has it), and prints
one table with the kdcu/PyTorch ratios.

    /usr/bin/python3 bench/compare_torch.py [--bench build/default/bench/bench_kd_loss] [--quick]

PyTorch (Debian's python3-torch, `scripts/setup.sh --with-torch`) is only needed here, never to
build or test kdcu. PyTorch's loss is the usual recipe:
    F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit("compare_torch.py: PyTorch is not installed for this Python; run scripts/setup.sh --with-torch "
             "and use /usr/bin/python3")


def time_median(fn, min_reps=10, min_seconds=0.3):
    for _ in range(2):
        fn()
    samples, start = [], time.perf_counter()
    while len(samples) < min_reps or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def kd_recipe(s, t, T):
    return F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T


def compiled_recipe():
    """torch.compile of the recipe, or (None, why not): Debian's PyTorch 1.13 has none."""
    if not hasattr(torch, "compile"):
        return None, f"PyTorch {torch.__version__} has no torch.compile"
    try:
        fn = torch.compile(kd_recipe)
        x = torch.randn(4, 10, requires_grad=True)
        fn(x, torch.randn(4, 10), 4.0).backward()
        return fn, ""
    except Exception as e:  # no C++ compiler for inductor, ...
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def torch_kd(B, C, T, loss_fn=kd_recipe):
    g = torch.Generator().manual_seed(0)
    s = (torch.randn(B, C, generator=g) * 3).requires_grad_()
    t = torch.randn(B, C, generator=g) * 3

    def step():
        loss = loss_fn(s, t, T)
        loss.backward()
        s.grad = None

    return time_median(step)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default=os.path.join(here, "..", "build", "default", "bench", "bench_kd_loss"))
    ap.add_argument("--quick", action="store_true", help="skip the largest size")
    args = ap.parse_args()
    if not os.path.exists(args.bench):
        sys.exit(f"compare_torch.py: {args.bench} not found; build first (cmake --build --preset default)")
    cmd = [args.bench, "--json"] + (["--quick"] if args.quick else [])
    rows = [json.loads(line) for line in subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split("\n") if line]
    T = 4.0
    threads = rows[0]["threads"] if rows else 1
    torch.set_num_threads(threads)
    print(f"KD loss fwd+bwd, f32, CPU, {threads} threads, T = {T:g}; PyTorch {torch.__version__} eager")
    compiled, why_not = compiled_recipe()
    if compiled is None:
        print(f"torch.compile: unavailable ({why_not})")
    print(f"{'B x C':<14} {'kdcu fused us':>14} {'kdcu composed':>14} {'PyTorch us':>11} {'fused/composed':>15} {'PyTorch/kdcu':>13}"
          + (f" {'compiled us':>12} {'compiled/kdcu':>14}" if compiled else ""))
    for r in rows:
        pt = torch_kd(r["B"], r["C"], T)
        ct = torch_kd(r["B"], r["C"], T, compiled) if compiled else None
        print(f"{str(r['B']) + ' x ' + str(r['C']):<14} {r['fused_s'] * 1e6:>14.1f} {r['composed_s'] * 1e6:>14.1f} "
              f"{pt * 1e6:>11.1f} {r['composed_s'] / r['fused_s']:>14.2f}x {pt / r['fused_s']:>12.2f}x"
              + (f" {ct * 1e6:>12.1f} {ct / r['fused_s']:>13.2f}x" if ct else ""))


if __name__ == "__main__":
    main()
