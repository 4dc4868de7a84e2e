#!/usr/bin/python3
"""Runs kdcu's training-step benchmark (bench_train_step --json) and times the same steps in PyTorch
on the same device in the same run, eager and (where this PyTorch has it and it works)
torch.compile, and prints one table of images/s with the kdcu/PyTorch ratios.

    /usr/bin/python3 bench/compare_torch_train.py [--bench build/default/bench/bench_train_step]
        [--device cpu|cuda] [--batch 256] [--steps 10] [--threads N] [--model NAME] [--quick]
        [--no-compile]

One step, both sides: student forward, loss, backward, SGD step, zero_grad (grads to None), and
loss.item() (the one host round trip a training loop makes). Synthetic N(0, 1) inputs [B, 1, 28, 28],
10 classes, SGD lr 0.05, momentum 0.9, Nesterov, weight decay 5e-4. Plain: cross-entropy. KD: a
resnet20 teacher forward in eval mode under torch.no_grad(), then
    0.9 * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T
    + 0.1 * F.cross_entropy(s, y),   T = 4.
Both sides: 2 warm-up steps (torch.compile: 3, the first compiles), then the median (the upper
one for an even count, as kdcu's) of --steps timed steps; on CUDA the clock is read after
torch.cuda.synchronize(). PyTorch gets kdcu's thread count (torch.set_num_threads). On CUDA,
cudnn.benchmark is on (kdcu times cuDNN's algorithms per shape too) and TF32 follows KDCU_TF32 as
kdcu's does (on unless KDCU_TF32 is 0, off or false). torch.compile compiles the student and the
teacher modules (default mode); the loss and the optimizer run eagerly.

The architectures (resnet20, cnn_small) come from tests/golden/reference_models.py. PyTorch is a peer to
compare against (Debian's python3-torch on the CPU, `scripts/setup.sh --with-torch`; a CUDA build
on a GPU machine), never a build or test dependency. Exits 1 when PyTorch or kdcu's results are
missing, so a caller can fall back to bench_train_step alone.
"""
import argparse
import json
import os
import subprocess
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit("compare_torch_train.py: PyTorch is not installed for this Python; run scripts/setup.sh --with-torch "
             "and use /usr/bin/python3")

T = 4.0
WARMUP, WARMUP_COMPILE = 2, 3


# ------------------------------------------------------------------ the reference architectures
# One copy for every script: tests/golden/reference_models.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
from reference_models import CnnSmall, resnet_cifar  # noqa: E402


MODELS = {"resnet20": lambda: resnet_cifar(20), "cnn_small": lambda: CnnSmall()}


# ------------------------------------------------------------------ PyTorch's steps

def kd_loss(s, t, y):
    kd = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T
    return 0.9 * kd + 0.1 * F.cross_entropy(s, y)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(step, steps, warmup, device):
    for _ in range(warmup):
        step()
    samples = []
    for _ in range(steps):
        sync(device)
        t0 = time.perf_counter()
        step()
        sync(device)
        samples.append(time.perf_counter() - t0)
    return sorted(samples)[len(samples) // 2]  # kdcu's median: the upper one for an even count


_STUDENTS = {}


def student_for(model, device, compiled):
    """One student per model and kind, reused by the plain and the KD step (as kdcu's bench does;
    a compiled one then compiles once)."""
    key = (model, compiled)
    if key not in _STUDENTS:
        torch.manual_seed(7)
        student = MODELS[model]().to(device).train()
        _STUDENTS[key] = (student, torch.compile(student) if compiled else student)
    return _STUDENTS[key]


def torch_seconds(model, teacher, batch, steps, device, compiled):
    """Median seconds per training step of `model` (a name of MODELS) with `teacher` (an eval-mode
    module, or None for the plain step), compiled with torch.compile or eager."""
    student, net = student_for(model, device, compiled)
    gen = torch.Generator(device=device).manual_seed(7)
    x = torch.randn(batch, 1, 28, 28, device=device, generator=gen)
    y = torch.randint(0, 10, (batch,), device=device, generator=gen)
    opt = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def step():
        logits = net(x)
        if teacher is not None:
            with torch.no_grad():
                t_logits = teacher(x)
            loss = kd_loss(logits, t_logits, y)
        else:
            loss = F.cross_entropy(logits, y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss.item()

    return median_seconds(step, steps, WARMUP_COMPILE if compiled else WARMUP, device)


def reason_of(e):
    text = str(e).strip().splitlines()
    text = f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# ------------------------------------------------------------------ the run

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", default=os.path.join(here, "..", "build", "default", "bench", "bench_train_step"))
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="for kdcu and PyTorch (default cpu)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 10, --quick 4)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for both (default: kdcu's OpenMP default)")
    ap.add_argument("--model", choices=sorted(MODELS), help="one student (default: cnn_small and resnet20)")
    ap.add_argument("--quick", action="store_true", help="cnn_small only, 4 timed steps")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = ap.parse_args()
    steps = args.steps if args.steps is not None else (4 if args.quick else 10)
    model = "cnn_small" if args.quick else args.model
    if args.batch < 1 or steps < 1:
        sys.exit("compare_torch_train.py: --batch and --steps must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit(f"compare_torch_train.py: PyTorch {torch.__version__} sees no CUDA device")
    if not os.path.exists(args.bench):
        sys.exit(f"compare_torch_train.py: {args.bench} not found; build first (cmake --build --preset default)")

    cmd = [args.bench, "--json", "--device", args.device, "--batch", str(args.batch), "--steps", str(steps)]
    cmd += ["--threads", str(args.threads)] if args.threads > 0 else []
    cmd += ["--model", model] if model else []
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"compare_torch_train.py: {' '.join(cmd)} failed (exit {run.returncode}):\n{run.stdout}{run.stderr}")
    out = run.stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if not rows:
        sys.exit(f"compare_torch_train.py: {' '.join(cmd)} printed no results:\n{out}")
    unknown = sorted(({r["model"] for r in rows} | {r["teacher"] for r in rows if r["teacher"]}) - set(MODELS))
    if unknown:
        sys.exit(f"compare_torch_train.py: no PyTorch definition of {', '.join(unknown)}")

    device = torch.device(args.device)
    threads = rows[0]["threads"]
    torch.set_num_threads(threads)
    if device.type == "cuda":
        tf32 = os.environ.get("KDCU_TF32", "") not in ("0", "off", "false")
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = True
        where = f"{torch.cuda.get_device_name(device)}, TF32 {'on' if tf32 else 'off'}"
    else:
        where = f"CPU, {threads} threads"

    compile_reason = None
    if args.no_compile:
        compile_reason = "--no-compile"
    elif not hasattr(torch, "compile"):
        compile_reason = f"PyTorch {torch.__version__} has no torch.compile"

    teacher_name = next((r["teacher"] for r in rows if r["teacher"]), None)
    teachers = {}
    if teacher_name:
        torch.manual_seed(1)
        teachers[False] = MODELS[teacher_name]().to(device).eval()
        if compile_reason is None:
            teachers[True] = torch.compile(teachers[False])

    # Rows are printed as they are measured (flushed), so a caller's time limit keeps what is done.
    print(f"training step, batch {rows[0]['batch']}, {where}; KD adds a {teacher_name} teacher forward; "
          f"median of {rows[0]['steps']} steps; PyTorch {torch.__version__}")
    tried_compile = compile_reason is None
    if args.no_compile:
        print("compile: skipped (--no-compile)")
    elif not tried_compile:
        print(f"compile: unavailable ({compile_reason})")
    head = f"{'model':<12} {'mode':<6} {'kdcu img/s':>11} {'eager img/s':>12} {'kdcu/eager':>11}"
    if tried_compile:
        head += f" {'compile img/s':>14} {'kdcu/compile':>13}"
    print(head, flush=True)
    for r in rows:
        teacher = teachers[False] if r["mode"] == "kd" else None
        eager = torch_seconds(r["model"], teacher, r["batch"], r["steps"], device, compiled=False)
        kdcu, pt = r["images_per_s"], r["batch"] / eager
        line = f"{r['model']:<12} {r['mode']:<6} {kdcu:>11.0f} {pt:>12.0f} {kdcu / pt:>10.2f}x"
        if tried_compile:
            comp = None
            if compile_reason is None:
                try:
                    teacher = teachers[True] if r["mode"] == "kd" else None
                    comp = torch_seconds(r["model"], teacher, r["batch"], r["steps"], device, compiled=True)
                except Exception as e:  # noqa: BLE001 - any compiler failure: no compile numbers from here on
                    compile_reason = reason_of(e)
            if comp is not None:
                pc = r["batch"] / comp
                line += f" {pc:>14.0f} {kdcu / pc:>12.2f}x"
            else:
                line += f" {'-':>14} {'-':>13}"
        print(line, flush=True)
    if tried_compile and compile_reason is not None:
        print(f"compile: unavailable ({compile_reason})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
