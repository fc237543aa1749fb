"""Benchmark: how long inference for one image takes (the "Inference for one image" page, `vae-explorer gaps`).

Times, on the shipped 2-D model `models/mnist-z2` (MLP 512-256) and `models/mnist-z16` (MLP 1024-512),
for single MNIST test images (median, min, max over `--repeats` images):
- the per-image optimiser: `explorer.inference.optimise` (500 Adam steps of 16 reparameterised
  draws, then the ELBO curve on 64 common draws at every 4th step and the final ELBO on 1,000);
- the grid posterior of a 2-D model (`vae.inference.grid_posterior`: 64x64 coarse + 96x96 fine cells);
- log p(x) by IWAE with k = 5,000 (the non-2-D models' log p(x));
- the whole gap decomposition of one image (`explorer.inference.image_gaps`);
and the gaps of a 20-image subset at once (`vae.inference.inference_gaps`), the unit the page's
"every shipped model" table is made of. Targets: 500 steps under 2 s, the grid under 1 s, on 2 cores.

    VAE_DATA_DIR=... .venv/bin/python benchmarks/inference.py [--repeats 5] [--smoke] [--results PATH|-]

--smoke: 2 images, 50 steps, a 10-image subset; writes nothing. Needs `VAE_DATA_DIR` holding MNIST.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# As in app.py: idle OpenMP threads hand the cores back instead of spinning (see benchmarks/RESULTS.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for explorer/
import benchlib as B  # noqa: E402

MODELS = B.REPO_ROOT / "models"


def parse_args(argv=None):
    p = B.make_parser(__doc__, "2 images, 50 steps, a 10-image subset; writes no results", data_limits=False)
    p.add_argument("--repeats", type=int, default=5, help="single images timed per row (default 5)")
    p.add_argument("--steps", type=int, default=500, help="optimiser steps (default 500)")
    p.add_argument("--subset", type=int, default=20, help="images in the subset row (default 20)")
    args = p.parse_args(argv)
    if args.smoke:
        args.repeats, args.steps, args.subset = 2, 50, 10
    if args.repeats < 1 or args.steps < 1 or args.subset < 1:
        p.error("--repeats, --steps and --subset must be >= 1")
    return args


def time_rows(label: str, fn, n: int) -> list:
    walls, cpus = [], []
    for i in range(n):
        with B.timed() as t:
            fn(i)
        walls.append(t.wall)
        cpus.append(t.cpu_per_wall)
    med, lo, hi = B.median_min_max(walls)
    return [label, n, med, lo, hi, sum(cpus) / len(cpus)]


def main(argv=None) -> int:
    args = parse_args(argv)
    root = B.data_root_or_exit()
    session = B.Session.start(args)

    import vae
    from explorer import inference

    test = vae.load_dataset("mnist", "test", root=root, download=False)
    rows = []
    for name in ("mnist-z2", "mnist-z16"):
        model, _ = vae.load_model(MODELS / name)
        for p in model.parameters():
            p.requires_grad_(False)
        x = lambda i: test.x[i : i + 1]  # noqa: E731
        inference.optimise(model, x(0), steps=5)  # warm-up, untimed
        rows.append(time_rows(f"{name}: optimise {args.steps} steps (from the prior)",
                              lambda i: inference.optimise(model, x(i), start="prior", steps=args.steps), args.repeats))
        if model.config.latent_dim == 2:
            rows.append(time_rows(f"{name}: grid posterior and log p(x)",
                                  lambda i: vae.inference.grid_posterior(model, x(i)), args.repeats))
        else:
            def iwae(i):
                with torch.no_grad():
                    q = model.encode(x(i))
                vae.inference.iwae_log_px(vae.inference.model_log_joint(model, x(i)), q, k=inference.IWAE_K)

            rows.append(time_rows(f"{name}: log p(x) by IWAE k={inference.IWAE_K}", iwae, args.repeats))
        rows.append(time_rows(f"{name}: the gaps of one image",
                              lambda i: inference.image_gaps(model, x(i), steps=args.steps), args.repeats))
        rows.append(time_rows(f"{name}: the gaps of {args.subset} images at once",
                              lambda i: vae.inference.inference_gaps(model, test.x[: args.subset], steps=args.steps), 1))
    table = B.format_table(["what", "runs", "median s", "min s", "max s", "CPU/wall"], rows, right=[False] + [True] * 5)
    body = "\n".join([f"MNIST test images 0..{args.repeats - 1} (one per run); steps {args.steps}; "
                      f"torch.get_num_threads() = {torch.get_num_threads()}; OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}",
                      "", table, "",
                      "seconds of wall-clock per run. Targets (2 cores): 500 optimiser steps under 2 s, the 2-D grid under 1 s."])
    print("\n" + body)
    session.finish("Inference for one image: per-image optimiser, grid posterior, gaps", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
