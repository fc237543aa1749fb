"""Command-line interface: `vae-explorer train | evaluate | info`.

The flags are a contract (scripts, the README and the benchmarks use them). Every failure a
user can cause (missing dataset, bad flag value, broken checkpoint, diverging run) ends with a
one-line message on stderr and a non-zero exit status, never a traceback. Ctrl-C during
training stops after the current step and saves the last finished epoch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
from pathlib import Path
from typing import Any, Sequence



def _hidden_dims(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 512,256, got {text!r}") from None
    if not dims:
        raise argparse.ArgumentTypeError("give at least one hidden width")
    return dims


def build_parser() -> argparse.ArgumentParser:
    from .data import DATASETS

    parser = argparse.ArgumentParser(prog="vae-explorer", description="Train, evaluate and inspect VAE models.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a VAE and save it as a model directory",
                       description="Train a VAE on a dataset and save it (weights + card.json) to --out.")
    t.add_argument("--dataset", default="mnist", choices=DATASETS)
    t.add_argument("--latent-dim", type=int, default=2)
    t.add_argument("--arch", default="mlp", choices=("mlp", "conv"))
    t.add_argument("--hidden-dims", type=_hidden_dims, default=(512, 256), help="comma-separated widths, e.g. 512,256")
    t.add_argument("--likelihood", default="bernoulli", choices=("bernoulli", "gaussian"))
    t.add_argument("--gaussian-std", type=float, default=0.1, help="fixed decoder std for --likelihood gaussian")
    t.add_argument("--conditional", action="store_true",
                   help="conditional VAE: encoder and decoder also see the one-hot label")
    t.add_argument("--prior", default="standard", choices=("standard", "mog"),
                   help="p(z): N(0, I), or a learned mixture of Gaussians (KL by sampling)")
    t.add_argument("--prior-components", type=int, default=10, help="mixture components for --prior mog")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--schedule", default="cosine", choices=("constant", "cosine"))
    t.add_argument("--beta", type=float, default=1.0)
    t.add_argument("--warmup-epochs", type=int, default=0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--precision", default="float32", choices=("float32", "bfloat16"),
                   help="bfloat16: matrix products in bfloat16 (autocast), faster on CPUs with native bf16 "
                        "(AVX512-BF16, AMX) and on GPUs; weights and loss stay float32")
    t.add_argument("--iwae-k", type=int, default=0, help="also estimate log p(x) with k importance samples (0: skip)")
    t.add_argument("--offline", action="store_true", help="never download datasets")
    t.add_argument("--out", required=True, type=Path, help="model directory to write, e.g. models/mnist-z2")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    e = sub.add_parser("evaluate", help="test metrics of a model directory",
                       description="Test -ELBO, reconstruction, KL, importance-sampled log-likelihood and active units.")
    e.add_argument("model_dir", type=Path)
    e.add_argument("--dataset", default=None, help="dataset to evaluate on (default: the model's own)")
    e.add_argument("--iwae-k", type=int, default=1000, help="importance samples for log p(x) (0: skip)")
    e.add_argument("--n-images", type=int, default=None, help="evaluate on the first N test images only")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="auto")
    e.add_argument("--offline", action="store_true", help="never download datasets")
    e.add_argument("--update-card", action="store_true", help="store the metrics in the model's card.json")
    e.add_argument("--json", action="store_true", help="print one JSON object")

    i = sub.add_parser("info", help="show a model's card", description="Print a model directory's card.json.")
    i.add_argument("model_dir", type=Path)
    i.add_argument("--json", action="store_true", help="print the raw card as JSON")
    return parser


def _cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .config import TrainConfig, VAEConfig
    from .data import load_dataset
    from .model import build_model
    from .train import run_training, save_run

    download = False if args.offline else None
    train = load_dataset(args.dataset, "train", download=download)
    test = load_dataset(args.dataset, "test", download=download)
    config = VAEConfig(
        input_shape=train.image_shape, latent_dim=args.latent_dim, arch=args.arch, hidden_dims=args.hidden_dims,
        likelihood=args.likelihood, gaussian_std=args.gaussian_std,
        n_classes=len(train.class_names) if args.conditional else 0, prior=args.prior,
        prior_components=args.prior_components,
    )
    tcfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, beta=args.beta, warmup_epochs=args.warmup_epochs,
        seed=args.seed, device=args.device, schedule=args.schedule, precision=args.precision,
    )
    model = build_model(config, args.seed)
    kind = ("conditional " if config.conditional else "") + config.arch
    print(f"training {kind} VAE (z={config.latent_dim}, prior {config.prior}, {sum(p.numel() for p in model.parameters()):,} parameters) "
          f"on {args.dataset}: {len(train):,} train / {len(test):,} test images", file=sys.stderr)

    interrupted = False

    def on_sigint(signum, frame):
        nonlocal interrupted
        if interrupted:  # second Ctrl-C: give up at once
            raise KeyboardInterrupt
        interrupted = True

    previous = signal.signal(signal.SIGINT, on_sigint)
    bar = None

    def on_step(info) -> bool:
        nonlocal bar
        if bar is None and not args.quiet:
            bar = tqdm(total=info.steps_per_epoch, desc=f"epoch {info.epoch + 1}/{tcfg.epochs}", unit="batch", disable=None,
                       leave=False, file=sys.stderr)
        if bar is not None:
            bar.update(1)
            if info.step % 20 == 0:
                bar.set_postfix(loss=f"{info.loss:.1f}", recon=f"{info.recon:.1f}", kl=f"{info.kl:.2f}")
        return interrupted

    def on_epoch(record: dict[str, Any]) -> bool:
        nonlocal bar
        if bar is not None:
            bar.close()
            bar = None
        print(f"epoch {record['epoch']:3d}/{tcfg.epochs}  train -ELBO {record['train_neg_elbo']:7.2f}  "
              f"test -ELBO {record['test_neg_elbo']:7.2f} (recon {record['test_recon']:7.2f}, KL {record['test_kl']:5.2f})  "
              f"{record['seconds']:.1f}s", file=sys.stderr)
        return interrupted

    try:
        labels = {"train_labels": train.y, "test_labels": test.y} if config.conditional else {}
        run = run_training(model, train.x, test.x, tcfg, on_epoch=on_epoch, on_step=on_step, **labels)
    finally:
        signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
    if run.error:
        print(f"error: {run.error}", file=sys.stderr)
    if not run.history:
        print("no epoch finished: nothing saved", file=sys.stderr)
        return 1
    metrics = save_run(model, args.out, run, args.dataset, tcfg, len(train), test.x, iwae_k=args.iwae_k,
                       test_labels=test.y if config.conditional else None, trained_in="cli")
    _print_metrics(metrics.to_dict(), args.dataset)
    print(f"saved {args.out} ({run.status}, {len(run.history)} epochs)", file=sys.stderr)
    return 1 if run.status == "diverged" else 0


def _print_metrics(m: dict[str, Any], dataset: str) -> None:
    lines = [f"test metrics on {dataset} ({m['n_images']:,} images, nats per image):",
             f"  -ELBO           {m['neg_elbo']:8.2f}",
             f"  reconstruction  {m['recon']:8.2f}",
             f"  KL              {m['kl']:8.2f}"]
    if "iwae_nll" in m:
        lines.append(f"  -log p(x) IWAE  {m['iwae_nll']:8.2f}  (k={m['iwae_k']})")
    lines.append(f"  active units    {m['active_units']:8d} of {len(m['kl_per_dim'])}")
    print("\n".join(lines))


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .card import Metrics
    from .checkpoint import load_model, save_model
    from .data import load_dataset
    from .model import resolve_device
    from .train import model_metrics

    model, card = load_model(args.model_dir, device=resolve_device(args.device))
    dataset = args.dataset or card.dataset
    test = load_dataset(dataset, "test", download=False if args.offline else None)
    if test.image_shape != model.config.input_shape:
        raise ValueError(f"{dataset} images are {test.image_shape}, the model expects {model.config.input_shape}")
    x = test.x[: args.n_images] if args.n_images else test.x
    y = test.y[: len(x)] if model.config.conditional else None
    metrics = model_metrics(model, x, iwae_k=args.iwae_k, seed=args.seed, labels=y)
    if args.update_card:
        save_model(model.cpu(), args.model_dir, dataclasses.replace(card, metrics=Metrics.from_dict(metrics)))
    if args.json:
        keys = ("neg_elbo", "recon", "kl", "iwae_nll", "iwae_k", "active_units")
        print(json.dumps({**{k: metrics.get(k) for k in keys}, "dataset": dataset, "n_images": metrics["n_images"]}))
    else:
        _print_metrics(metrics, dataset)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .checkpoint import check_weights, load_card

    card = load_card(args.model_dir)
    check_weights(args.model_dir, card)  # from the file's header: a missing or mismatched weights file
    if args.json:
        print(json.dumps(card.to_dict(), indent=2))
        return 0
    c = card.config
    print(f"model      {args.model_dir}")
    print(f"dataset    {card.dataset}  ({card.n_train or '?'} train / {card.n_test or '?'} test)")
    print(f"arch       {c.arch} {list(c.hidden_dims)}  latent {c.latent_dim}  likelihood {c.likelihood}")
    tc = card.train_config
    if tc is not None:
        print(f"training   {len(card.history)} epochs ({card.status or '?'}), batch {tc.batch_size}, "
              f"lr {tc.lr} ({tc.schedule}), beta {tc.beta}, warm-up {tc.warmup_epochs}, seed {tc.seed}")
    if card.metrics is not None:
        _print_metrics(card.metrics.to_dict(), card.dataset)
    print(f"created    {card.created_at}  {card.versions}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from .checkpoint import CheckpointError
    from .data import DatasetUnavailable

    args = build_parser().parse_args(argv)
    command = {"train": _cmd_train, "evaluate": _cmd_evaluate, "info": _cmd_info}[args.command]
    try:
        return command(args)
    except (CheckpointError, DatasetUnavailable, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
