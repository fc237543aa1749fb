"""Benchmark: how long the "Bayesian neural network" page computes (explorer.bnn).

Times (median, min, max over `--repeats` runs):
- both classifiers trained on `models/mnist-z2`'s test codes (`train_on_codes`, 800 Adam steps each)
  for 300 and 3,000 training codes: what a student waits for after moving the slider;
- the plane's 181x181 grid under 30 weight draws (`plane_maps`);
- the shipped pixel pair `models/mnist-bnn` measured on the 10,000 MNIST test digits and 10,000
  out-of-distribution images, 10 draws each (`evaluate_pixels`, once per server);
- one uploaded digit's probabilities under 100 draws (`predict_digit`).

    VAE_DATA_DIR=... .venv/bin/python benchmarks/bnn.py [--repeats 3] [--smoke] [--results PATH|-]

--smoke: one run of each, 100 codes, 500 test images; writes nothing. Needs `VAE_DATA_DIR` holding MNIST.
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


def parse_args(argv=None):
    return B.parse_repeats(__doc__, "one run of each, 100 codes, 500 test images; writes no results", 3, "runs per row",
                           argv)


def time_row(label: str, fn, n: int) -> list:
    walls = []
    for i in range(n):
        with B.timed() as t:
            fn(i)
        walls.append(t.wall)
    return [label, n, *B.median_min_max(walls)]


def main(argv=None) -> int:
    args = parse_args(argv)
    root = B.data_root_or_exit()
    session = B.Session.start(args)

    import vae
    from explorer import bnn
    from vae.bnn import load_classifier

    test = vae.load_dataset("mnist", "test", root=root, download=False)
    model, _ = vae.load_model(B.REPO_ROOT / "models" / "mnist-z2")
    enc = vae.encode_dataset(model, test.x, test.y)
    mu, labels = enc.mu.numpy(), enc.labels.numpy()
    sizes = (100,) if args.smoke else (300, 3000)
    rows, trained = [], {}
    for n in sizes:
        def train(i, n=n):
            trained[n] = bnn.train_on_codes(mu, labels, n, seed=i)
        rows.append(time_row(f"train both on {n:,} mnist-z2 codes ({bnn.LATENT_STEPS} steps each)", train, args.repeats))
    extent = bnn.plane_extent(mu)
    rows.append(time_row("plane: 181x181 grid, 30 weight draws", lambda i: bnn.plane_maps(trained[sizes[0]], extent),
                         args.repeats))
    bayes, det, _ = load_classifier(B.REPO_ROOT / "models" / "mnist-bnn")
    n_images = 500 if args.smoke else len(test)
    rows.append(time_row(f"pixels: both networks on {n_images:,} test + {n_images:,} OOD images, 10 draws",
                         lambda i: bnn.evaluate_pixels(bayes, det, test, n=n_images), args.repeats))
    rows.append(time_row("one digit: 100 weight draws", lambda i: bnn.predict_digit(bayes, det, test.x[i : i + 1]),
                         args.repeats))
    table = B.format_table(["what", "runs", "median s", "min s", "max s"], rows, right=[False] + [True] * 4)
    body = "\n".join([f"torch.get_num_threads() = {torch.get_num_threads()} (training on the codes uses 1); "
                      f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}", "", table, "", "seconds of wall-clock per run."])
    print("\n" + body)
    session.finish("Bayesian neural network page: classifiers on codes, the plane, the pixel pair", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
