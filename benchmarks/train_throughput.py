"""Benchmark 1: training throughput of the project's `vae.fit` against the textbook loop.

Both loops train the same 784-400-20 MLP VAE (652,824 parameters; checked) with Adam at lr 1e-3
and batch 128 on MNIST, alternating textbook/project, project/textbook over `--repeats` (seed =
repeat). A loop's wall-clock runs from building its data loader (the textbook's DataLoader, which
decodes every image through PIL and ToTensor each epoch) to the end of its last epoch; the
one-time loading of the IDX files into a Dataset or into tensors is timed separately. After
training, each model's test -ELBO (nats/image, one z sample) is measured both the example's way
(its `test()`: BCE-sum + KL over the test set / 10,000) and with `vae.evaluate`. The project's
loop runs in float32 and in bfloat16; the default precision "auto" is one of the two (which one
depends on the CPU: the header says).

Then the distance to the physical limit: the matrix products' FLOPs per epoch divided by the
rate this machine's sgemm and bfloat16 gemm reach, at the step's own shapes and at a large square.

    .venv/bin/python benchmarks/train_throughput.py [--epochs N] [--repeats R] [--smoke]
        [--profile] [--explore] [--whole-process [--wp-epochs E] [--example-main PATH]]
        [--denormals [--dn-epochs E]] [--threads T] [--results PATH|-]

--profile adds where the time goes (torch.profiler ops, and py-spy per statement when the
py-spy executable is found: --py-spy PATH or on PATH). --explore times variations of the
project's loop (optimizer kernels, gradient clipping, threads, denormals, the other precision,
torch.compile, larger batches with scaled lr), without changing `vae/`. --whole-process times
whole processes, start to exit: the default `vae-explorer train` at the example's architecture,
batch and epochs (`--wp-epochs`, default 10 like the example) against the example's `main.py`
(pytorch/examples vae/main.py, run unmodified when given as `--example-main PATH`, else re-enacted
here statement for statement from benchlib's pieces), both reading the same MNIST files.
--denormals times that `vae-explorer train` epoch by epoch as shipped (subnormal floats flushed to
zero) and with the flush turned off, in fresh processes (the setting is copied by threads as they start).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import math
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # keep torch.profiler's start/stop notices off stderr
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
from benchlib import PROJECT, TEXTBOOK  # noqa: E402

PROJECT_BF16 = "project (vae.fit, precision=bfloat16)"
# PROJECT ("project (vae.fit)") runs with precision="float32" here; the names stay as earlier sections of
# RESULTS.md wrote them.
PRECISION_OF = {PROJECT: "float32", PROJECT_BF16: "bfloat16"}


def default_precision() -> str:
    """What TrainConfig's default precision "auto" runs as on this machine's CPU."""
    from vae.train import resolve_precision

    return resolve_precision("auto", torch.device("cpu"))


def parse_args(argv=None):
    p = B.make_parser(__doc__, "2 batches of each loop on 256 images, 512 test images; writes no results")
    p.add_argument("--epochs", type=int, default=2, help="epochs per timed run (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each loop, alternating (default 3)")
    p.add_argument("--profile", action="store_true", help="also show where the time goes")
    p.add_argument("--explore", action="store_true", help="also time variations of the project's loop")
    p.add_argument("--explore-epochs", type=int, default=1, help="epochs of the --explore quality run (default 1)")
    p.add_argument("--explore-pairs", type=int, default=6, help="baseline/variant pairs of short runs (default 6)")
    p.add_argument("--explore-images", type=int, default=15_360, help="images per short --explore run (default 15,360)")
    p.add_argument("--no-compile", action="store_true", help="leave torch.compile out of --explore")
    p.add_argument("--only", choices=("textbook", "project"), help="run one loop once (used by the py-spy profile)")
    p.add_argument("--py-spy", default=None, help="path of the py-spy executable for --profile")
    p.add_argument("--whole-process", action="store_true",
                   help="also time whole processes: `vae-explorer train` against the example's main.py")
    p.add_argument("--wp-epochs", type=int, default=10, help="epochs of each --whole-process run (default 10, the example's)")
    p.add_argument("--wp-repeats", type=int, default=None, help="--whole-process runs of each (default: --repeats)")
    p.add_argument("--example-main", default=None,
                   help="path of pytorch/examples' vae/main.py to run unmodified in --whole-process "
                        "(default: a re-enactment of it from benchlib's pieces)")
    p.add_argument("--denormals", action="store_true",
                   help="also time `vae-explorer train` epoch by epoch with subnormal floats flushed to zero "
                        "(its default) and without")
    p.add_argument("--dn-epochs", type=int, default=5, help="epochs of each --denormals run (default 5)")
    p.add_argument("--textbook-main", default=None, help=argparse.SUPPRESS)  # the re-enactment's child process
    args = p.parse_args(argv)
    if args.smoke:
        args.epochs, args.repeats, args.explore_epochs, args.explore_pairs = 1, 1, 1, 1
        args.train_limit = args.train_limit or 256
        args.test_limit = args.test_limit or 512
        args.no_compile = True
        args.wp_epochs = args.dn_epochs = 1
    if args.epochs < 1 or args.repeats < 1 or args.wp_epochs < 1 or args.dn_epochs < 1:
        p.error("--epochs, --repeats, --wp-epochs and --dn-epochs must be >= 1")
    args.wp_repeats = args.wp_repeats or args.repeats
    if args.example_main and not Path(args.example_main).is_file():
        p.error(f"--example-main {args.example_main}: no such file")
    return args



# ---------------------------------------------------------------------------------------------
# The data, loaded once.


class Data:
    def __init__(self, root: Path, train_limit: int | None, test_limit: int | None):
        import torchvision  # noqa: F401  (imported before timing: both loaders need it)

        import vae

        with B.timed() as t:
            self.tb_train, self.tb_test = B.textbook_datasets(root, train_limit, test_limit)
        self.tb_load = t
        with B.timed() as t:
            train = vae.load_dataset("mnist", "train", root=root, download=False).x
            test = vae.load_dataset("mnist", "test", root=root, download=False).x
        self.project_load = t
        self.train_x = train[:train_limit] if train_limit else train
        self.test_x = test[:test_limit] if test_limit else test
        self.n_train = len(self.train_x)
        assert len(self.tb_train) == self.n_train and len(self.tb_test) == len(self.test_x)


# ---------------------------------------------------------------------------------------------
# One timed run of each loop.


def run_textbook(data: Data, epochs: int, seed: int, max_steps: int | None = None) -> dict:
    torch.manual_seed(seed)  # the example seeds the global RNG: init, shuffling and eps
    model = B.TextbookVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    seen, loss_sum = 0, 0.0
    with B.timed() as t:
        train_loader = B.textbook_loader(data.tb_train, batch_size=128, shuffle=True)
        for _ in range(epochs):
            n, loss_sum, _ = B.textbook_train_epoch(model, optimizer, train_loader, max_steps=max_steps)
            seen += n
    return _record(TEXTBOOK, model, data, t, seen, loss_sum / n, seed)


def run_project(data: Data, epochs: int, seed: int, model=None, max_steps: int | None = None,
                context=contextlib.nullcontext, evaluate: bool = True, **overrides) -> dict:
    """vae.fit on the in-memory tensors; `context()` wraps the fit call only (not the evaluation)."""
    import vae

    model = model if model is not None else B.project_model(seed)
    cfg = B.project_train_config(epochs, seed=seed, **overrides)
    steps = [0]

    def stop_after(_info):
        steps[0] += 1
        return steps[0] >= max_steps

    with context(), B.timed() as t:
        result = vae.fit(model, data.train_x, None, cfg, on_step=stop_after if max_steps else None)
    if max_steps:  # the stop came after steps[0] batches: whole epochs, then part of one
        per_epoch = math.ceil(data.n_train / cfg.batch_size)
        seen = steps[0] // per_epoch * data.n_train + min(steps[0] % per_epoch * cfg.batch_size, data.n_train)
    else:
        seen = epochs * data.n_train
    train_loss = result.history[-1]["train_loss"] if result.history else float("nan")
    loop = PROJECT_BF16 if result.precision == "bfloat16" else PROJECT
    return _record(loop, model, data, t, seen, train_loss, seed, evaluate)


def _record(loop, model, data: Data, t: B.Timed, seen: int, train_loss: float, seed: int, evaluate: bool = True) -> dict:
    rec = {"loop": loop, "seed": seed, "wall": t.wall, "cpu_per_wall": t.cpu_per_wall, "others": t.others,
           "images": seen, "images_per_s": seen / t.wall, "train_loss": train_loss}
    if evaluate:
        if isinstance(model, B.TextbookVAE):
            textbook_model, project_model = model, B.textbook_to_project(model)
        else:
            textbook_model, project_model = B.project_to_textbook(model), model
        rec["test_example"] = B.textbook_test_loss(textbook_model, data.tb_test, seed=0)
        rec["test_vae"] = B.project_test_loss(project_model, data.test_x, seed=0)
    return rec


# ---------------------------------------------------------------------------------------------
# Sections.


def throughput(args, data: Data) -> tuple[str, list[dict]]:
    tb_params, pr_params = B.param_count(B.TextbookVAE()), B.param_count(B.project_model())
    if tb_params != pr_params:
        raise SystemExit(f"architectures differ: textbook {tb_params} parameters, project {pr_params}")
    head = [
        f"parameters: textbook {tb_params:,}, project {pr_params:,} (784-400-20 MLP, same layers)",
        f"torch.get_num_threads() = {torch.get_num_threads()}; DataLoader num_workers = 0; batch 128; Adam lr 1e-3; "
        f"project: schedule constant, grad_clip {B.project_train_config(1).grad_clip} (TrainConfig default); "
        f"'{PROJECT}' runs in float32, '{PROJECT_BF16}' in bfloat16; the default precision 'auto' "
        f"runs as {default_precision()} on this CPU",
        f"training images {data.n_train:,}, test images {len(data.test_x):,}; {args.epochs} epoch(s) per run, "
        f"{args.repeats} repeat(s), alternating",
        "",
        B.format_table(
            ["one-time data load", "seconds"],
            [["textbook: datasets.MNIST train+test (IDX -> uint8 tensors)", data.tb_load.wall],
             ["project: vae.load_dataset train+test (IDX -> float32 tensors)", data.project_load.wall]],
        ),
        "",
    ]
    # Warm-up (untimed): first calls initialise MKL/oneDNN and the allocator.
    warm = 2 if args.smoke else 20
    run_textbook(data, 1, seed=99, max_steps=warm)
    run_project(data, 1, seed=99, max_steps=warm, precision="float32")
    run_project(data, 1, seed=99, max_steps=warm, precision="bfloat16")

    def run_fp32(data, epochs, seed):
        return run_project(data, epochs, seed=seed, precision="float32")

    def run_bf16(data, epochs, seed):
        return run_project(data, epochs, seed=seed, precision="bfloat16")

    runs: list[dict] = []
    for r in range(args.repeats):
        loops = [run_textbook, run_fp32, run_bf16]
        order = loops[r % 3:] + loops[: r % 3]  # each loop goes first, second and third in turn
        for fn in order:
            rec = fn(data, args.epochs, seed=r)
            rec["repeat"] = r + 1
            runs.append(rec)
            print(f"  repeat {r + 1}: {rec['loop']:<28} {rec['images_per_s']:>9,.0f} img/s  "
                  f"test -ELBO {rec['test_vae']:.2f}", flush=True)

    detail = B.format_table(
        ["repeat", "loop", "seconds", "img/s", "CPU/wall", "others' cores", "train loss", "test -ELBO (example)", "test -ELBO (vae.evaluate)"],
        [[r["repeat"], r["loop"], r["wall"], r["images_per_s"], r["cpu_per_wall"], r["others"], r["train_loss"],
          r["test_example"], r["test_vae"]] for r in runs],
        right=[True, False] + [True] * 7,
    )
    rows, med = [], {}
    for loop in (TEXTBOOK, PROJECT, PROJECT_BF16):
        rs = [r for r in runs if r["loop"] == loop]
        m, lo, hi = B.median_min_max([r["images_per_s"] for r in rs])
        med[loop] = m
        rows.append([loop, m, lo, hi, statistics.median(r["wall"] for r in rs) / args.epochs,
                     statistics.median(r["cpu_per_wall"] for r in rs), statistics.median(r["others"] for r in rs),
                     statistics.median(r["test_example"] for r in rs), statistics.median(r["test_vae"] for r in rs)])
    summary = B.format_table(
        ["loop", "img/s median", "min", "max", "s/epoch", "CPU/wall", "others' cores", "test -ELBO (example)", "test -ELBO (vae.evaluate)"],
        rows, right=[False] + [True] * 8,
    )
    ratio = "\n".join(
        f"ratio {loop} / textbook: {med[loop] / med[TEXTBOOK]:.2f}x (medians); per repeat "
        + ", ".join(f"{p['images_per_s'] / t['images_per_s']:.2f}x" for t, p in _paired(runs, loop))
        for loop in (PROJECT, PROJECT_BF16))
    default = PROJECT if default_precision() == "float32" else PROJECT_BF16
    ratio += f"\nthe default (precision 'auto' = {default_precision()} here): {med[default] / med[TEXTBOOK]:.2f}x"
    notes = ("test -ELBO: nats per image on the test set, one z sample, after the same epochs (median over repeats). "
             "'example' = the example's test() (sigmoid output, BCE-sum + KL, / N); 'vae.evaluate' = the project's "
             "(logits, BCE-with-logits + KL); each model is also converted to the other class so both are measured "
             "both ways. CPU/wall = cores this process kept busy; others' cores = the rest of the machine meanwhile. "
             "precision (TrainConfig, CLI --precision): bfloat16 runs the matrix products in bfloat16 (this MLP on the "
             "CPU: oneDNN rounds the float32 inputs of each product to bfloat16 inside its kernel; elsewhere "
             "torch.autocast) while weights, Adam state and the loss stay float32; the default 'auto' chooses it where "
             "the CPU has native bf16 (AVX512-BF16 or AMX-BF16), float32 elsewhere (where emulated bfloat16 is slower).")
    body = "\n".join(head + ["per run:", detail, "", "summary (median over repeats):", summary, "", ratio, "", notes])
    return body, runs


def _paired(runs, loop=None):
    """(textbook run, `loop` run) of each repeat that has both; `loop` defaults to the project's float32 loop."""
    loop = loop or PROJECT
    by_repeat = {}
    for r in runs:
        by_repeat.setdefault(r["repeat"], {})[r["loop"]] = r
    return [(d[TEXTBOOK], d[loop]) for _, d in sorted(by_repeat.items()) if TEXTBOOK in d and loop in d]


def profile(args, data: Data) -> str:
    import vae

    steps = 3 if args.smoke else 60
    out = [f"where the time goes: torch.profiler, {steps} training steps of each loop (ops by self CPU time)", ""]

    torch.manual_seed(0)
    tb_model = B.TextbookVAE()  # built outside the profiled region: init is not training
    pr_model = B.project_model(0)

    def textbook():
        opt = torch.optim.Adam(tb_model.parameters(), lr=1e-3)
        B.textbook_train_epoch(tb_model, opt, B.textbook_loader(data.tb_train), max_steps=steps)

    def project():
        count = [0]

        def stop(_):
            count[0] += 1
            return count[0] >= steps

        vae.fit(pr_model, data.train_x, None, B.project_train_config(1), on_step=stop)

    default = f"project (vae.fit, default precision: {default_precision()})"
    out += [f"{TEXTBOOK}:", B.torch_profile(textbook, steps), "", f"{default}:", B.torch_profile(project, steps), ""]

    # The textbook's data pipeline on its own: one pass of the DataLoader with no model.
    with B.timed() as t:
        n = sum(len(x) for x, _ in B.textbook_loader(data.tb_train))
    with B.timed() as t2:
        n2 = sum(len(data.train_x[i]) for i in torch.split(torch.randperm(data.n_train), 128))
    out += [B.format_table(
        ["data pipeline alone, one epoch", "seconds", "img/s"],
        [["textbook: DataLoader(MNIST, ToTensor), no model", t.wall, n / t.wall],
         ["project: randperm + tensor indexing, no model", t2.wall, n2 / t2.wall]],
    ), ""]

    py_spy = B.find_py_spy(args.py_spy)
    if py_spy is None:
        out.append("py-spy: not found (pip install py-spy, then pass --py-spy PATH or put it on PATH)")
        return "\n".join(out)
    base = [sys.executable, str(Path(__file__).resolve()), "--epochs", "1", "--results", "-"]
    if args.train_limit:
        base += ["--train-limit", str(args.train_limit)]
    if args.test_limit:
        base += ["--test-limit", str(args.test_limit)]
    if args.threads:
        base += ["--threads", str(args.threads)]
    out.append(f"where the time goes: py-spy ({py_spy}), one epoch of each loop in a child process, sampled at 200 Hz")
    out.append("")
    out += [f"{TEXTBOOK}:", B.py_spy_profile(py_spy, base + ["--only", "textbook"], "textbook_train_epoch", "benchlib.py"), ""]
    out += [f"{default}:", B.py_spy_profile(py_spy, base + ["--only", "project"], "fit", "train.py"), ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# --explore: variations of the project's loop, each equivalent to a one-line change in vae/train.py
# or a process setting; nothing in vae/ is edited (the optimiser is swapped by patching
# vae.train.Adam for the duration of one run).


class _TorchAdam:
    """torch.optim.Adam behind vae.train.Adam's interface (lr, zero_grad, step)."""

    def __init__(self, params, lr, **options):
        self._opt = torch.optim.Adam(params, lr=lr, **options)

    @property
    def lr(self):
        return self._opt.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        self._opt.param_groups[0]["lr"] = value

    def zero_grad(self):
        self._opt.zero_grad(set_to_none=True)

    def step(self):
        self._opt.step()


@contextlib.contextmanager
def _adam(**options):
    """vae.fit's optimiser replaced by torch.optim.Adam(**options) for one run."""
    import vae.train

    original = vae.train.Adam
    vae.train.Adam = functools.partial(_TorchAdam, **options)
    try:
        yield
    finally:
        vae.train.Adam = original


@contextlib.contextmanager
def _threads(n):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _flush_denormal():
    ok = torch.set_flush_denormal(True)
    try:
        yield ok
    finally:
        torch.set_flush_denormal(False)


def _variants(args):
    n = torch.get_num_threads()
    null = contextlib.nullcontext
    other = "float32" if default_precision() == "bfloat16" else "bfloat16"
    v = [
        (f"baseline (vae.fit as is: batch 128, lr 1e-3, grad_clip {B.project_train_config(1).grad_clip}, "
         f"precision auto = {default_precision()})", null, {}, None),
        ("grad_clip=None", null, {"grad_clip": None}, None),
        ("torch.optim.Adam(fused=True) (same kernel, the earlier vae.fit)", lambda: _adam(fused=True), {}, None),
        ("Adam for-loop (fused=False, the vae.fit before that)", lambda: _adam(fused=False), {}, None),
        ("Adam(foreach=True)", lambda: _adam(fused=False, foreach=True), {}, None),
        (f"torch.set_num_threads({1 if n != 1 else 2})", lambda: _threads(1 if n != 1 else 2), {}, None),
        ("torch.set_flush_denormal(True)", _flush_denormal, {}, None),
        (f"precision={other}", null, {"precision": other}, None),
        ("batch 256, lr 1.41e-3 (sqrt scaling)", null, {"batch_size": 256, "lr": 1e-3 * math.sqrt(2)}, None),
        ("batch 512, lr 2e-3 (sqrt scaling)", null, {"batch_size": 512, "lr": 2e-3}, None),
        ("batch 1024, lr 2.83e-3 (sqrt scaling)", null, {"batch_size": 1024, "lr": 1e-3 * math.sqrt(8)}, None),
        ("batch 512, lr 2e-3, no clip", null, {"batch_size": 512, "lr": 2e-3, "grad_clip": None}, None),
    ]
    if not args.no_compile:
        v.append(("torch.compile(model) (compile time excluded)", null, {}, "compile"))
    return v


def _compiled_model(data: Data, seed: int) -> tuple[torch.nn.Module, float]:
    """torch.compile'd project model, already compiled for the full and the last partial batch."""
    import vae

    model = B.project_model(seed)
    initial = B.snapshot(model)
    compiled = torch.compile(model)
    last = data.n_train % 128 or 128
    t0 = time.perf_counter()
    vae.fit(compiled, data.train_x[: 128 + last], None, B.project_train_config(1, seed=seed))
    seconds = time.perf_counter() - t0
    model.load_state_dict(initial)  # the warm-up's two steps are undone
    return compiled, seconds


def explore(args, data: Data) -> str:
    """Each variant against the baseline in back-to-back pairs of short runs (AB, BA, ...), so that
    the machine's drift cancels in the per-pair ratio; then one longer run per variant for the
    test -ELBO it reaches (larger batches make fewer updates per epoch)."""
    variants = _variants(args)
    base = variants[0]
    images = 256 if args.smoke else args.explore_images
    run_project(data, 1, seed=99, max_steps=2 if args.smoke else 20, evaluate=False)  # warm-up, untimed

    def short(variant, seed, model=None):
        _, ctx, overrides, _ = variant
        steps = max(1, images // overrides.get("batch_size", 128))
        return run_project(data, 1, seed=seed, model=model, max_steps=steps, context=ctx, evaluate=False, **overrides)

    rows, notes = [], []
    quality = {}
    for variant in variants:
        name, ctx, overrides, special = variant
        model, compile_s = None, None
        if special == "compile":
            model, compile_s = _compiled_model(data, seed=0)
            notes.append(f"torch.compile: compiling (graphs for batch 128 and the last batch of 96) took {compile_s:.1f} s "
                         f"in this process (inductor's on-disk cache may have served part of it); excluded above")
        q = run_project(data, args.explore_epochs, seed=0, model=model, context=ctx, **overrides)
        quality[name] = q
        if variant is base:
            continue
        ratios, v_rates, b_rates, others = [], [], [], []
        for k in range(args.explore_pairs):
            pair = (base, variant) if k % 2 == 0 else (variant, base)
            recs = {v[0]: short(v, seed=k, model=model if v is variant else None) for v in pair}
            v_rates.append(recs[name]["images_per_s"])
            b_rates.append(recs[base[0]]["images_per_s"])
            ratios.append(v_rates[-1] / b_rates[-1])
            others += [r["others"] for r in recs.values()]
        m, lo, hi = B.median_min_max(ratios)
        rows.append([name, statistics.median(v_rates), statistics.median(b_rates), f"{m:.2f}x", f"{lo:.2f}x", f"{hi:.2f}x",
                     statistics.median(others), q["images_per_s"], q["test_vae"]])
        print(f"  explore: {name:<48} {m:.2f}x baseline (pairs: {', '.join(f'{x:.2f}' for x in ratios)})", flush=True)
    b = quality[base[0]]
    rows.insert(0, [base[0], float("nan"), float("nan"), "1.00x", "", "", float("nan"), b["images_per_s"], b["test_vae"]])
    table = B.format_table(
        ["variant of the project's loop", "img/s", "baseline img/s", "speed-up", "min", "max", "others' cores",
         f"{args.explore_epochs}-epoch img/s", "test -ELBO"],
        rows, right=[False] + [True] * 8,
    )
    head = (f"--explore: each variant against the baseline in {args.explore_pairs} back-to-back pairs of short runs "
            f"({images:,} images each, order alternating); img/s = median over its runs, speed-up = median (min, max) of "
            f"the per-pair ratios. Then one {args.explore_epochs}-epoch run per variant (seed 0) for its img/s over a "
            f"full epoch and the test -ELBO it reaches (vae.evaluate, nats/image).")
    return "\n".join([head, "", table, ""] + notes)


# ---------------------------------------------------------------------------------------------
# The physical limit: the matrix products' FLOPs against this machine's gemm rate.

LAYERS = ((784, 400), (400, 40), (20, 400), (400, 784))  # (in, out) of the four Linear layers, forward order


def step_matmuls(batch: int) -> list[tuple[str, int, int, int]]:
    """(what, m, k, n) of every matrix product of one training step of the 784-400-20 VAE: the forward
    product of each layer, (B, in) @ (in, out); its weight gradient, (out, B) @ (B, in); and its input
    gradient, (B, out) @ (out, in), which the first layer does not need (the images need no gradient)."""
    shapes = []
    for i, (fan_in, fan_out) in enumerate(LAYERS):
        shapes.append(("forward", batch, fan_in, fan_out))
        shapes.append(("weight gradient", fan_out, batch, fan_in))
        if i > 0:
            shapes.append(("input gradient", batch, fan_out, fan_in))
    return shapes


def flops_per_image() -> float:
    """FLOPs (2 per multiply-add) of the matrix products of one image's training step; the element-wise
    work (activations, loss, Adam) is left out: it is memory-bound, a few per cent of these FLOPs."""
    return sum(2 * m * k * n for _, m, k, n in step_matmuls(128)) / 128


def _gemm_rate(dtype: torch.dtype, products: list[tuple[int, int, int]], seconds: float) -> tuple[float, float]:
    """(best, median) GFLOP/s of running `products` (m, k, n) back to back in `dtype`, over trials of about
    `seconds` / 5 each, with the operand layouts of a Linear layer's step (transposed views as autograd uses)."""
    g = torch.Generator().manual_seed(0)
    pairs = []
    for m, k, n in products:
        a = torch.randn(k, m, generator=g).to(dtype).t()  # a transposed view, like W.t() or grad.t()
        b = torch.randn(k, n, generator=g).to(dtype)
        pairs.append((a, b))
    flops = sum(2 * m * k * n for m, k, n in products)

    def once():
        for a, b in pairs:
            torch.mm(a, b)

    for _ in range(3):
        once()
    t0 = time.perf_counter()
    once()
    reps = max(1, int(seconds / 5 / max(time.perf_counter() - t0, 1e-6)))
    rates = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            once()
        rates.append(flops * reps / (time.perf_counter() - t0) / 1e9)
    return max(rates), statistics.median(rates)


def limits(args, runs: list[dict]) -> str:
    """FLOPs per epoch / measured gemm rate, for both precisions, against the measured seconds per epoch."""
    n_train = runs[0]["images"] // args.epochs if runs else 60_000
    per_image = flops_per_image()
    epoch_gflop = per_image * n_train / 1e9
    budget = 0.2 if args.smoke else 4.0
    step = [(m, k, n) for _, m, k, n in step_matmuls(128)]
    big = [(2048, 2048, 2048)] if not args.smoke else [(512, 512, 512)]
    rows = []
    for loop, dtype in ((PROJECT, torch.float32), (PROJECT_BF16, torch.bfloat16)):
        step_best, step_med = _gemm_rate(dtype, step, budget)
        big_best, _ = _gemm_rate(dtype, big, budget)
        measured = statistics.median(r["wall"] for r in runs if r["loop"] == loop) / args.epochs
        bound = epoch_gflop / step_best
        rows.append([PRECISION_OF[loop], step_best, step_med, big_best, bound, epoch_gflop / big_best, measured,
                     f"{measured / bound:.1f}x"])
    table = B.format_table(
        ["precision", "gemm GFLOP/s, step shapes (best)", "(median)", f"gemm GFLOP/s, {big[0][0]}^3 (best)",
         "s/epoch at step-shape rate", f"s/epoch at {big[0][0]}^3 rate", "s/epoch measured", "measured / limit"],
        rows, right=[False] + [True] * 7)
    return "\n".join([
        f"distance to the physical limit: the matrix products of one training step are {per_image / 1e6:.2f} MFLOP "
        f"per image ({len(step)} products at batch 128: forward, weight and input gradients), "
        f"{epoch_gflop:.1f} GFLOP per epoch of {n_train:,} images; divided by the gemm rate this machine reaches "
        f"(torch.mm on the same shapes and layouts, back to back; and on a large square), that is the least time an "
        f"epoch can take; 'measured' is the median s/epoch of the project's loop above.",
        "",
        table,
        "",
        "The element-wise work (activations, the loss, Adam's update) is not in the FLOPs: it is "
        "memory-bound, and it is most of the gap between 'measured' and the limit.",
    ])


# ---------------------------------------------------------------------------------------------
# --whole-process: `vae-explorer train` against the example's main.py, each as a whole process.


def _vae_explorer() -> list[str]:
    exe = Path(sys.executable).parent / "vae-explorer"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "vae.cli"]


def _child_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["VAE_DATA_DIR"] = str(root)
    return env


def _last_number(text: str, pattern: str) -> float:
    import re

    found = re.findall(pattern, text, re.M)
    return float(found[-1]) if found else float("nan")


def _run_child(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[B.Timed, str]:
    import subprocess

    with B.timed_tree() as t:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return t, proc.stdout + proc.stderr


def _train_flags(args, epochs: int, seed: int, out: Path) -> list[str]:
    """`vae-explorer train`'s arguments at the example's architecture and batch, every other flag at its default.
    --smoke checks the plumbing in seconds: the project's process trains on the 8x8 digits instead."""
    return ["train", "--dataset", "digits" if args.smoke else "mnist", "--latent-dim", "20", "--hidden-dims", "400",
            "--batch-size", "128", "--epochs", str(epochs), "--seed", str(seed), "--offline", "--out", str(out)]


def whole_process(args, root: Path) -> str:
    """Each repeat runs the example's main.py and `vae-explorer train` (order alternating), each a fresh
    process timed from spawn to exit: imports, data loading, training, the per-epoch test passes, and
    what each writes (the example's sample images, the project's model with its test metrics)."""
    import shutil
    import tempfile

    epochs = args.wp_epochs
    example = args.example_main
    rows, runs = [], []
    with tempfile.TemporaryDirectory(prefix="wp-") as tmp:
        work = Path(tmp) / "run"
        (work / "results").mkdir(parents=True)  # main.py saves its images in results/
        (Path(tmp) / "data").symlink_to(Path(root).resolve())  # and reads MNIST from ../data
        for r in range(args.wp_repeats):
            seed = r + 1  # the example's default seed is 1
            if example:
                textbook_cmd = [sys.executable, str(Path(example).resolve()), "--epochs", str(epochs), "--seed", str(seed)]
            else:
                textbook_cmd = [sys.executable, str(Path(__file__).resolve()), "--textbook-main", str(seed),
                                "--epochs", str(epochs)]
                if args.train_limit:
                    textbook_cmd += ["--train-limit", str(args.train_limit)]
                if args.test_limit:
                    textbook_cmd += ["--test-limit", str(args.test_limit)]
            out = Path(tmp) / f"model-{r}"
            project_cmd = [*_vae_explorer(), *_train_flags(args, epochs, seed, out)]
            pair = {}
            for name in (("textbook", "project") if r % 2 == 0 else ("project", "textbook")):
                cmd = textbook_cmd if name == "textbook" else project_cmd
                t, text = _run_child(cmd, work, _child_env(Path(root)))
                test = (_last_number(text, r"Test set loss: ([\d.]+)") if name == "textbook"
                        else _last_number(text, r"^\s*-ELBO\s+([\d.]+)"))
                pair[name] = {"wall": t.wall, "cpu": t.cpu_per_wall, "others": t.others, "test": test}
                print(f"  whole process, repeat {r + 1}: {name:<8} {t.wall:6.1f} s  test -ELBO {test:.2f}", flush=True)
            shutil.rmtree(out, ignore_errors=True)
            runs.append(pair)
            for name in ("textbook", "project"):
                p = pair[name]
                rows.append([r + 1, name, p["wall"], p["cpu"], p["others"], p["test"],
                             f"{pair['textbook']['wall'] / p['wall']:.2f}x" if name == "project" else ""])
    med = {name: statistics.median(p[name]["wall"] for p in runs) for name in ("textbook", "project")}
    test = {name: statistics.median(p[name]["test"] for p in runs) for name in ("textbook", "project")}
    table = B.format_table(["repeat", "process", "seconds", "CPU/wall", "others' cores", "test -ELBO", "speed-up"],
                           rows, right=[True, False, True, True, True, True, True])
    which = (f"pytorch/examples vae/main.py run unmodified ({example})" if example
             else "the example's main.py re-enacted from benchlib's pieces (pass --example-main PATH to run the real one)")
    return "\n".join([
        f"whole process, start to exit, {epochs} epoch(s), batch 128, 784-400-20 MLP, seeds 1..{args.wp_repeats}"
        + (" (smoke: the textbook on a few hundred images, the project on the 8x8 digits: not comparable)" if args.smoke else "")
        + ":",
        f"  textbook: {which}: `python main.py --epochs {epochs} --seed S` (trains, tests every epoch, saves its "
        f"sample images; CPU, as on a machine without an accelerator)",
        f"  project: `vae-explorer train --dataset mnist --latent-dim 20 --hidden-dims 400 --batch-size 128 --epochs "
        f"{epochs} --seed S --offline --out DIR`, every other flag at its default (precision auto = "
        f"{default_precision()} here, cosine lr schedule, test metrics every epoch, the model and its card saved)",
        "",
        table,
        "",
        f"median: textbook {med['textbook']:.1f} s, project {med['project']:.1f} s: {med['textbook'] / med['project']:.2f}x; "
        f"test -ELBO textbook {test['textbook']:.2f} (its own test()), project {test['project']:.2f} (vae.evaluate "
        f"in the card), nats per image",
        "CPU/wall and others' cores as above: the child process against the rest of the machine.",
    ])


# ---------------------------------------------------------------------------------------------
# --denormals: the same command with subnormal floats flushed to zero (its default) and not.

# The command with vae.train.flush_denormals replaced by a no-op: `run` looks it up when it starts.
_UNFLUSHED = ("import sys, vae.cli, vae.train; vae.train.flush_denormals = lambda: False; "
              "sys.argv[0] = 'vae-explorer'; vae.cli.run()")


def denormals(args, root: Path) -> str:
    """`vae-explorer train` (the whole-process flags, `--dn-epochs` epochs) in fresh processes, flushed and
    not, alternating: each epoch's seconds from the card's history, and the test -ELBO each reaches."""
    import json
    import shutil
    import tempfile

    epochs = args.dn_epochs
    per = {"flushed (default)": [], "not flushed": []}
    tests = {name: [] for name in per}
    with tempfile.TemporaryDirectory(prefix="dn-") as tmp:
        for r in range(args.repeats):
            names = list(per) if r % 2 == 0 else list(per)[::-1]
            for name in names:
                out = Path(tmp) / "model"
                flags = [*_train_flags(args, epochs, r + 1, out), "--quiet"]
                cmd = ([*_vae_explorer(), *flags] if name.startswith("flushed")
                       else [sys.executable, "-c", _UNFLUSHED, *flags])
                _run_child(cmd, Path(tmp), _child_env(Path(root)))
                card = json.loads((out / "card.json").read_text())
                seconds = [h["seconds"] for h in card["history"]]
                per[name].append(seconds)
                tests[name].append(card["metrics"]["neg_elbo"])
                print(f"  denormals, repeat {r + 1}: {name:<17} s/epoch {' '.join(f'{s:.2f}' for s in seconds)}  "
                      f"test -ELBO {tests[name][-1]:.2f}", flush=True)
                shutil.rmtree(out)
    rows = []
    for e in range(epochs):
        row = [e + 1] + [statistics.median(runs[e] for runs in per[name]) for name in per]
        rows.append(row + [f"{row[2] / row[1]:.2f}x"])
    rows.append(["all"] + [statistics.median(sum(runs) for runs in per[name]) for name in per]
                + [f"{statistics.median(sum(r) for r in per['not flushed']) / statistics.median(sum(r) for r in per['flushed (default)']):.2f}x"])
    table = B.format_table(["epoch", "s, flushed (default)", "s, not flushed", "not / flushed"], rows,
                           right=[True, True, True, True])
    return "\n".join([
        f"subnormal floats: `vae-explorer train` (the whole-process flags, {epochs} epoch(s), seeds 1..{args.repeats}) as "
        "shipped, which flushes subnormal floats to zero in every thread (vae.train.flush_denormals), and with that "
        "call replaced by a no-op; fresh processes, alternating; seconds per epoch from the card (training and the "
        "test pass), medians over repeats",
        "",
        table,
        "",
        "test -ELBO (median): " + ", ".join(f"{name} {statistics.median(tests[name]):.2f}" for name in per)
        + " (per repeat: " + "; ".join(f"{name} " + " ".join(f"{t:.2f}" for t in tests[name]) for name in per) + ")",
    ])


def textbook_main(args) -> int:
    """The example's main.py, statement for statement, from benchlib's pieces (the child process of
    --whole-process without --example-main): seeded, its two loaders (both shuffled), training with a log
    line every 10 batches, its test() every epoch with the reconstruction image, then 64 samples saved."""
    import torchvision  # noqa: F401  (main.py imports it at the top)
    from torchvision.utils import save_image

    seed = int(args.textbook_main)
    torch.manual_seed(seed)
    train, test = B.textbook_datasets("../data", args.train_limit, args.test_limit)
    train_loader = B.textbook_loader(train, batch_size=128, shuffle=True)
    test_loader = B.textbook_loader(test, batch_size=128, shuffle=True)
    model = B.TextbookVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, args.epochs + 1):
        model.train()
        train_loss = 0.0
        for batch_idx, (data, _) in enumerate(train_loader):
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = B.textbook_loss(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            if batch_idx % 10 == 0:
                print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(train_loader.dataset)}]\tLoss: "
                      f"{loss.item() / len(data):.6f}")
        print(f"====> Epoch: {epoch} Average loss: {train_loss / len(train_loader.dataset):.4f}")
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for i, (data, _) in enumerate(test_loader):
                recon_batch, mu, logvar = model(data)
                test_loss += B.textbook_loss(recon_batch, data, mu, logvar).item()
                if i == 0:
                    n = min(data.size(0), 8)
                    comparison = torch.cat([data[:n], recon_batch.view(-1, 1, 28, 28)[:n]])
                    save_image(comparison.cpu(), f"results/reconstruction_{epoch}.png", nrow=n)
        print(f"====> Test set loss: {test_loss / len(test_loader.dataset):.4f}")
        with torch.no_grad():
            sample = model.decode(torch.randn(64, 20)).cpu()
            save_image(sample.view(64, 1, 28, 28), f"results/sample_{epoch}.png")
    return 0


# ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.textbook_main:
        return textbook_main(args)
    root = B.data_root_or_exit()
    session = B.Session.start(args)
    data = Data(root, args.train_limit, args.test_limit)

    if args.only:
        fn = run_textbook if args.only == "textbook" else run_project
        rec = fn(data, args.epochs, seed=0)
        print(f"{rec['loop']}: {rec['images_per_s']:,.0f} img/s, test -ELBO {rec['test_vae']:.2f}")
        return 0

    sections = []
    body, runs = throughput(args, data)
    sections.append(body)
    print("\n" + body, flush=True)
    if args.profile:
        text = profile(args, data)
        sections.append(text)
        print("\n" + text, flush=True)
    text = limits(args, runs)
    sections.append(text)
    print("\n" + text, flush=True)
    if args.explore:
        text = explore(args, data)
        sections.append(text)
        print("\n" + text, flush=True)
    if args.whole_process:
        text = whole_process(args, root)
        sections.append(text)
        print("\n" + text, flush=True)
    if args.denormals:
        text = denormals(args, root)
        sections.append(text)
        print("\n" + text, flush=True)
    for loop, key in ((TEXTBOOK, "textbook"), (PROJECT, "project"), (PROJECT_BF16, "project-bf16")):
        rs = [r for r in runs if r["loop"] == loop]
        print(f"RESULT loop={key} images_per_s={statistics.median(r['images_per_s'] for r in rs):.1f} "
              f"test_neg_elbo={statistics.median(r['test_vae'] for r in rs):.3f}")
    session.finish("Benchmark 1: training throughput, textbook loop vs vae.fit", "\n\n".join(sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
