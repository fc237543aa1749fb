"""Benchmark 2: test -ELBO reached by the textbook loop and by `vae.fit` in the same wall-clock.

Each loop trains the same 784-400-20 MLP VAE (Adam, lr 1e-3, batch 128) on MNIST until
`--seconds` have passed (checked after every step, so a run ends within one step of the
budget), then its test -ELBO is measured (nats/image, one z sample, `vae.evaluate`; the
example's own `test()` is shown beside it). The textbook loop's budget includes its DataLoader;
the one-time loading of the IDX files is outside both budgets, as are the evaluations.

`vae.fit` stopped inside an epoch rolls the weights back to the last finished epoch (so the app
always shows a finished epoch); the benchmark keeps a copy of the weights at the budget and
reports both: "at budget" (the loop's quality) and "fit returns" (what a user gets).

    .venv/bin/python benchmarks/equal_time.py [--seconds 60] [--smoke] [--tuned] [--results PATH|-]

The project's run uses TrainConfig's defaults, precision "auto" included (bfloat16 on a
CPU with native bfloat16, float32 elsewhere: the table says which); a third run is the project's
loop in the other precision. --tuned adds a fourth: the project's loop with the settings --explore
found faster (`--tuned-batch`, `--tuned-lr`, grad_clip off), still through vae.fit unchanged.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KINETO_LOG_LEVEL", "5")
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
from benchlib import PROJECT, TEXTBOOK  # noqa: E402


def parse_args(argv=None):
    p = B.make_parser(__doc__, "2 s budget on 512 training and 512 test images; writes no results")
    p.add_argument("--seconds", type=float, default=60.0, help="training budget per loop (default 60)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tuned", action="store_true", help="add the project's loop with the faster settings from --explore")
    p.add_argument("--tuned-batch", type=int, default=512)
    p.add_argument("--tuned-lr", type=float, default=2e-3)
    args = p.parse_args(argv)
    if args.smoke:
        args.seconds = 2.0
        args.train_limit = args.train_limit or 512
        args.test_limit = args.test_limit or 512
    if args.seconds <= 0:
        p.error("--seconds must be positive")
    return args


def run_textbook(tb_train, budget: float, seed: int) -> dict:
    torch.manual_seed(seed)
    model = B.TextbookVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    seen = epochs = 0
    with B.timed() as t:
        deadline = time.perf_counter() + budget
        train_loader = B.textbook_loader(tb_train, batch_size=128, shuffle=True)
        stopped = False
        while not stopped:
            n, _, stopped = B.textbook_train_epoch(model, optimizer, train_loader, deadline=deadline)
            seen += n
            epochs += 0 if stopped else 1
    return {"loop": TEXTBOOK, "model": model, "timed": t, "images": seen, "steps": None, "full_epochs": epochs}


def run_project(train_x, budget: float, seed: int, label: str = PROJECT, **overrides) -> dict:
    import vae

    model = B.project_model(seed)
    cfg = B.project_train_config(10**6, seed=seed, **overrides)  # constant lr: the epoch count only bounds the run
    state = {"steps": 0, "at_budget": None}

    def on_step(_info) -> bool:
        state["steps"] += 1
        if time.perf_counter() >= deadline:
            state["at_budget"] = B.snapshot(model)  # fit will roll back to the last finished epoch
            return True
        return False

    with B.timed() as t:
        deadline = time.perf_counter() + budget
        result = vae.fit(model, train_x, None, cfg, on_step=on_step)
    returned = B.project_model(seed)
    returned.load_state_dict(model.state_dict())  # what fit left: the last finished epoch
    if state["at_budget"] is not None:
        model.load_state_dict(state["at_budget"])
    return {"loop": label, "model": model, "returned": returned, "timed": t, "images": state["steps"] * cfg.batch_size,
            "steps": state["steps"], "full_epochs": result.epochs_completed, "batch": cfg.batch_size}


def main(argv=None) -> int:
    args = parse_args(argv)
    root = B.data_root_or_exit()
    session = B.Session.start(args)

    import torchvision  # noqa: F401

    import vae

    tb_train, tb_test = B.textbook_datasets(root, args.train_limit, args.test_limit)
    train_x = vae.load_dataset("mnist", "train", root=root, download=False).x
    test_x = vae.load_dataset("mnist", "test", root=root, download=False).x
    train_x = train_x[: args.train_limit] if args.train_limit else train_x
    test_x = test_x[: args.test_limit] if args.test_limit else test_x
    n_train = len(train_x)

    from vae.train import resolve_precision

    default = resolve_precision("auto", torch.device("cpu"))  # what the default precision runs as here
    other = "float32" if default == "bfloat16" else "bfloat16"

    # Warm-up (untimed) so that neither run pays for library initialisation.
    run_textbook(tb_train, 0.2, seed=99)
    run_project(train_x, 0.2, seed=99, precision="float32")
    run_project(train_x, 0.2, seed=99, precision="bfloat16")

    runs = []
    for fn in (lambda: run_textbook(tb_train, args.seconds, args.seed),
               lambda: run_project(train_x, args.seconds, args.seed)):
        runs.append(fn())
        print(f"  {runs[-1]['loop']}: {runs[-1]['timed'].wall:.1f} s", flush=True)
    label = f"project, precision={other}"
    runs.append(run_project(train_x, args.seconds, args.seed, label=label, precision=other))
    print(f"  {label}: {runs[-1]['timed'].wall:.1f} s", flush=True)
    if args.tuned:
        label = f"project, batch {args.tuned_batch}, lr {args.tuned_lr:g}, no clip"
        runs.append(run_project(train_x, args.seconds, args.seed, label=label, batch_size=args.tuned_batch,
                                lr=args.tuned_lr, grad_clip=None))
        print(f"  {label}: {runs[-1]['timed'].wall:.1f} s", flush=True)

    rows = []
    for r in runs:
        t = r["timed"]
        model = r["model"]
        tb_model = model if isinstance(model, B.TextbookVAE) else B.project_to_textbook(model)
        pr_model = model if not isinstance(model, B.TextbookVAE) else B.textbook_to_project(model)
        r["test_vae"] = B.project_test_loss(pr_model, test_x, seed=0)
        r["test_example"] = B.textbook_test_loss(tb_model, tb_test, seed=0)
        r["test_returned"] = B.project_test_loss(r["returned"], test_x, seed=0) if "returned" in r else r["test_vae"]
        r["images_per_s"] = r["images"] / t.wall
        rows.append([r["loop"], t.wall, r["images"] / n_train, r["full_epochs"], r["images_per_s"], t.cpu_per_wall,
                     t.others, r["test_example"], r["test_vae"], r["test_returned"]])
    table = B.format_table(
        ["loop", "seconds used", "epochs", "full epochs", "img/s", "CPU/wall", "others' cores",
         "test -ELBO (example)", "test -ELBO at budget", "test -ELBO fit returns"],
        rows, right=[False] + [True] * 9,
    )
    best = min(runs, key=lambda r: r["test_vae"])
    body = "\n".join([
        f"budget {args.seconds:g} s per loop; training images {n_train:,}, test images {len(test_x):,}; "
        f"seed {args.seed}; torch.get_num_threads() = {torch.get_num_threads()}; DataLoader num_workers = 0; "
        f"'{PROJECT}' runs TrainConfig's defaults: precision 'auto' = {default} on this CPU",
        "",
        table,
        "",
        f"lowest test -ELBO at budget: {best['loop']} ({best['test_vae']:.2f} nats/image); "
        f"project minus textbook at budget: {runs[1]['test_vae'] - runs[0]['test_vae']:+.2f} nats/image",
        "",
        "test -ELBO: nats per image, one z sample. 'at budget' = vae.evaluate on the weights when the budget ran out; "
        "'example' = the example's test() on the same weights; 'fit returns' = the weights vae.fit leaves after a stop "
        "(rolled back to its last finished epoch; the textbook loop has no rollback). epochs = images seen / training "
        "images. CPU/wall = cores this process kept busy; others' cores = the rest of the machine meanwhile.",
    ])
    print("\n" + body)
    for r in runs[:2]:
        print(f"RESULT loop={r['loop'].split()[0]} images_per_s={r['images_per_s']:.1f} test_neg_elbo={r['test_vae']:.3f}")
    session.finish("Benchmark 2: quality at equal wall-clock", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
