"""Benchmark 5: how the project's training loop scales with batch size, threads and data size.

Three measurements of `vae.fit` on the benchmark's 784-400-20 MLP VAE (Adam, lr 1e-3, constant
schedule, the TrainConfig defaults otherwise), all on the same in-memory tensors:

1. images/s against batch size (16 .. 2048) at 1 and at 2 torch threads: one short run of
   `--images` training images per (batch, threads) cell, the cells in round-robin order over
   `--repeats` rounds so that the machine's drift hits every cell alike; median over rounds.
2. the same grid read the other way: the speed-up of 2 threads over 1 at each batch size.
3. seconds per epoch against the number of training images at batch 128: scikit-learn's digits
   (1,437 images, upsampled from 8x8 to 28x28 so that the network is the same), MNIST subsets,
   all of MNIST, and MNIST x2 / x4 grown by exact 2-pixel shifts (MNIST's 4-pixel empty border
   makes a shift lossless). A least-squares line t = a + b N is fitted to the epoch times;
   b is the cost per training image, a the per-epoch overhead, R^2 how straight the line is.
4. a shared machine: images/s at batch 128 with 1 and 2 threads, in fresh processes, with the
   machine otherwise idle and with one busy-looping process competing for a core, under
   OpenMP's default waiting and under OMP_WAIT_POLICY=PASSIVE (what app.py sets). Idle OpenMP
   threads spin at barriers by default; when the scheduler takes a core away, every parallel op
   waits for the descheduled thread.

    .venv/bin/python benchmarks/scaling.py [--repeats 3] [--images 20480] [--smoke] [--results PATH|-]
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402

BATCHES = (16, 32, 64, 128, 256, 512, 1024, 2048)
THREADS = (1, 2)
SHIFTS = ((2, 0), (0, 2), (-2, -2))  # (down, right) pixel shifts for the x2 and x4 copies


def parse_args(argv=None):
    p = B.make_parser(__doc__, "a few batches per cell, tiny data sizes; seconds; writes no results", data_limits=False)
    p.add_argument("--repeats", type=int, default=3, help="round-robin rounds over the batch x threads grid (default 3)")
    p.add_argument("--images", type=int, default=20_480, help="training images per grid cell run (default 20,480)")
    p.add_argument("--batches", default=",".join(map(str, BATCHES)), help="comma-separated batch sizes")
    p.add_argument("--epoch-repeats", type=int, default=3, help="rounds of one epoch per data size (median; default 3)")
    p.add_argument("--no-contention", action="store_true", help="leave out section 4 (a competing process)")
    p.add_argument("--probe", type=int, default=None, help=argparse_suppress())
    args = p.parse_args(argv)
    try:
        args.batches = tuple(int(v) for v in args.batches.split(",") if v.strip())
    except ValueError:
        p.error(f"--batches must be comma-separated integers, got {args.batches!r}")
    if args.smoke:
        args.repeats, args.images, args.epoch_repeats = 1, 512, 1
        args.batches = (32, 128)
    if args.repeats < 1 or args.images < 1 or args.epoch_repeats < 1 or not args.batches or min(args.batches) < 1:
        p.error("--repeats, --images, --epoch-repeats and every batch size must be >= 1")
    return args


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS  # internal: a child process of section 4 that trains N steps and prints its rate


def fit_images(train: torch.Tensor, batch: int, images: int, seed: int = 0) -> tuple[B.Timed, int]:
    """One `vae.fit` run that stops after `images` training images (rounded up to whole batches);
    returns its timing and the images it trained on."""
    import vae

    steps = max(1, math.ceil(images / batch))
    count = [0]

    def stop(_info) -> bool:
        count[0] += 1
        return count[0] >= steps

    model = B.project_model(seed)
    cfg = B.project_train_config(1, seed=seed, batch_size=batch)
    with B.timed() as t:
        vae.fit(model, train, None, cfg, on_step=stop)
    return t, min(steps * batch, len(train))


def with_threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    return before


def batch_grid(args, train: torch.Tensor) -> tuple[str, list[dict]]:
    cells = [(b, n) for b in args.batches for n in THREADS]
    runs: list[dict] = []
    for r in range(args.repeats):
        order = cells if r % 2 == 0 else cells[::-1]
        for b, n in order:
            before = with_threads(n)
            try:
                t, seen = fit_images(train, b, min(args.images, len(train)), seed=r)
            finally:
                torch.set_num_threads(before)
            runs.append({"batch": b, "threads": n, "rate": seen / t.wall, "cpu_per_wall": t.cpu_per_wall,
                         "others": t.others})
        print(f"  round {r + 1}/{args.repeats} of the batch x threads grid done", flush=True)

    def cell(b, n):
        return [x for x in runs if x["batch"] == b and x["threads"] == n]

    rows = []
    for b in args.batches:
        row = [b]
        med = {}
        for n in THREADS:
            rs = cell(b, n)
            m, lo, hi = B.median_min_max([x["rate"] for x in rs])
            med[n] = m
            row += [m, 1e3 * b / m, statistics.median(x["cpu_per_wall"] for x in rs)]
        row += [f"{med[2] / med[1]:.2f}x", statistics.median(x["others"] for x in runs if x["batch"] == b)]
        rows.append(row)
    table = B.format_table(
        ["batch", "img/s, 1 thread", "ms/step", "CPU/wall", "img/s, 2 threads", "ms/step", "CPU/wall",
         "2 threads / 1", "others' cores"], rows)
    best = max(rows, key=lambda row: row[4])
    base = next((row for row in rows if row[0] == 128), rows[0])
    text = "\n".join([
        f"images/s against batch size and torch threads: vae.fit, 784-400-20 MLP VAE, Adam lr 1e-3, constant schedule; "
        f"{min(args.images, len(train)):,} training images per run, {args.repeats} round(s) over the grid in "
        f"alternating order; img/s = median over rounds (ms/step = batch / img/s)",
        "",
        table,
        "",
        f"fastest: batch {best[0]} at 2 threads, {best[4]:,.0f} img/s = {best[4] / base[4]:.2f}x batch {base[0]}'s "
        f"{base[4]:,.0f} img/s (larger batches also make fewer updates per epoch: see benchmark 1's --explore for "
        "the test -ELBO they reach)",
    ])
    return text, runs


def shifted(x: torch.Tensor, down: int, right: int) -> torch.Tensor:
    """x moved by whole pixels; what leaves one edge is dropped and zeros come in at the other."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    src_r = slice(max(0, -down), h - max(0, down))
    dst_r = slice(max(0, down), h - max(0, -down))
    src_c = slice(max(0, -right), w - max(0, right))
    dst_c = slice(max(0, right), w - max(0, -right))
    out[..., dst_r, dst_c] = x[..., src_r, src_c]
    return out


def datasets(mnist: torch.Tensor, smoke: bool) -> list[tuple[str, torch.Tensor]]:
    import vae

    digits = vae.load_dataset("digits", "train").x
    digits28 = F.interpolate(digits, size=(28, 28), mode="bilinear", align_corners=False).clamp(0, 1)
    if smoke:
        mnist = mnist[:512]
        return [("digits (28x28)", digits28[:256]), ("mnist[:512]", mnist), ("mnist x2 (shifted)", torch.cat([mnist, shifted(mnist, *SHIFTS[0])]))]
    n = len(mnist)
    x2 = torch.cat([mnist, shifted(mnist, *SHIFTS[0])])
    x4 = torch.cat([x2, shifted(mnist, *SHIFTS[1]), shifted(mnist, *SHIFTS[2])])
    return [
        ("digits (8x8 upsampled to 28x28)", digits28),
        (f"mnist[:{n // 4:,}]", mnist[: n // 4]),
        (f"mnist[:{n // 2:,}]", mnist[: n // 2]),
        ("mnist", mnist),
        ("mnist x2 (+ 2-px shift)", x2),
        ("mnist x4 (+ 3 shifted copies)", x4),
    ]


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b x; returns (a, b, R^2)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    b = sxy / sxx if sxx else float("nan")
    a = my - b * mx
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return a, b, (1 - ss_res / ss_tot) if ss_tot else float("nan")


def epoch_scaling(args, mnist: torch.Tensor) -> str:
    """One-epoch fits of every size, the sizes in alternating order over `--epoch-repeats` rounds
    (so that the machine's drift spreads over all sizes); median over rounds."""
    import vae

    sets = datasets(mnist, args.smoke)
    vae.fit(B.project_model(1), sets[0][1][:256], None, B.project_train_config(1))  # warm-up, untimed
    runs: dict[str, list[tuple[float, B.Timed]]] = {name: [] for name, _ in sets}
    for r in range(args.epoch_repeats):
        for name, x in (sets if r % 2 == 0 else sets[::-1]):
            with B.timed() as t:
                result = vae.fit(B.project_model(r), x, None, B.project_train_config(1, seed=r))
            runs[name].append((result.history[0]["seconds"], t))
        print(f"  round {r + 1}/{args.epoch_repeats} over the data sizes done", flush=True)
    rows, xs, ys = [], [], []
    for name, x in sets:
        seconds = [s for s, _ in runs[name]]
        m = statistics.median(seconds)
        xs.append(float(len(x)))
        ys.append(m)
        rows.append([name, len(x), m, min(seconds), max(seconds), 1e6 * m / len(x), len(x) / m,
                     statistics.median(t.cpu_per_wall for _, t in runs[name]), statistics.median(t.others for _, t in runs[name])])
    a, b, r2 = linear_fit(xs, ys)
    for row, n in zip(rows, xs):
        row.append(a + b * n)
    table = B.format_table(
        ["training set", "images", "s/epoch median", "min", "max", "us/image", "img/s", "CPU/wall", "others' cores",
         "line a + bN"],
        rows, right=[False] + [True] * 9)
    return "\n".join([
        f"seconds per epoch against training-set size: vae.fit at batch 128, 784-400-20 MLP, torch threads "
        f"{torch.get_num_threads()}; one epoch per size in each of {args.epoch_repeats} round(s), sizes in alternating "
        "order; median over rounds of the epoch's own time (fit's history; no test set, so no evaluation inside)",
        "",
        table,
        "",
        f"least-squares line over {len(xs)} sizes: seconds/epoch = {a:.3f} s + {1e6 * b:.2f} us x images "
        f"(per-image cost {1e6 * b:.2f} us = {1 / b:,.0f} img/s at the margin); R^2 = {r2:.5f}",
    ])


PROBE_IMAGES = 8192
# How idle OpenMP threads wait (read once, at start-up): GNU OpenMP spins about 300,000 times before
# sleeping unless told otherwise; PASSIVE sleeps at once; GOMP_SPINCOUNT sets the spin.
WAIT_POLICIES = (
    ("default (unset)", {}),
    ("OMP_WAIT_POLICY=PASSIVE", {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("GOMP_SPINCOUNT=100000", {"GOMP_SPINCOUNT": "100000"}),
    ("GOMP_SPINCOUNT=10000", {"GOMP_SPINCOUNT": "10000"}),
)


def probe(args, root) -> int:
    """Section 4's child: `--probe STEPS` batches of 128 after a warm-up; prints one RATE line."""
    import vae

    if args.threads:
        torch.set_num_threads(args.threads)
    x = vae.load_dataset("mnist", "train", root=root, download=False).x[:PROBE_IMAGES]
    fit_images(x, 128, 128 * 5)
    t, seen = fit_images(x, 128, 128 * args.probe, seed=1)
    print(f"RATE {seen / t.wall:.1f} {t.cpu_per_wall:.3f}")
    return 0


def contention(args) -> str:
    steps = 4 if args.smoke else 60
    rows = []
    for policy, extra in WAIT_POLICIES[:2] if args.smoke else WAIT_POLICIES:
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
        env.update(extra)
        for hog in (True,) if args.smoke else (False, True):
            for threads in THREADS:
                busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if hog else None
                try:
                    with B.timed_tree() as t:  # the trainer and the busy process are ours: others = the rest
                        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--probe", str(steps),
                                               "--threads", str(threads)], env=env, capture_output=True, text=True,
                                              timeout=900)
                finally:
                    if busy is not None:
                        busy.kill()
                        busy.wait()
                line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RATE ")), None)
                rate, cpu = (float(v) for v in line.split()[1:]) if line else (float("nan"), float("nan"))
                rows.append([policy, "yes" if hog else "no", threads, rate, cpu, t.others])
                print(f"  {policy}, competing process {'yes' if hog else 'no'}, {threads} thread(s): "
                      f"{rate:,.0f} img/s", flush=True)
    table = B.format_table(["OpenMP waiting", "a busy process competing", "threads", "img/s", "CPU/wall (trainer)",
                            "others' cores"], rows, right=[False, False, True, True, True, True])
    return "\n".join([
        f"a shared machine: vae.fit at batch 128 in a fresh process ({steps} steps after 5 warm-up steps, "
        f"{PROBE_IMAGES:,} MNIST images), the machine otherwise idle or with one `while True: pass` process "
        "competing for a core; OpenMP waiting as torch ships it (GNU OpenMP spins at barriers before it sleeps), "
        "OMP_WAIT_POLICY=PASSIVE (set by app.py before torch is imported), or a shorter spin (GOMP_SPINCOUNT). 'others' cores' is the rest of the "
        "machine (neither the trainer nor the competing process).",
        "", table])


def main(argv=None) -> int:
    args = parse_args(argv)
    root = B.data_root_or_exit()
    if args.probe:
        return probe(args, root)
    session = B.Session.start(args)
    import vae

    mnist = vae.load_dataset("mnist", "train", root=root, download=False).x
    train = mnist[:4096] if args.smoke else mnist
    fit_images(train, 128, 128 * (2 if args.smoke else 20))  # warm-up (library initialisation), untimed

    grid_text, runs = batch_grid(args, train)
    print("\n" + grid_text, flush=True)
    epoch_text = epoch_scaling(args, mnist)
    print("\n" + epoch_text, flush=True)
    sections = [grid_text, epoch_text]
    if not args.no_contention:
        sections.append(contention(args))
        print("\n" + sections[-1], flush=True)
    at128 = {n: statistics.median(r["rate"] for r in runs if r["batch"] == 128 and r["threads"] == n)
             for n in THREADS if any(r["batch"] == 128 for r in runs)}
    for n, rate in at128.items():
        print(f"RESULT batch=128 threads={n} images_per_s={rate:.1f}")
    session.finish("Benchmark 5: scaling with batch size, threads and data size", "\n\n".join(sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
