"""Command-line interface: `vae-explorer train | evaluate | gaps | train-bnn | info`.

The flags are a contract (scripts, the README and the benchmarks use them). Every failure a
user can cause (missing dataset, bad flag value, broken checkpoint, diverging run) ends with a
one-line message on stderr and a non-zero exit status, never a traceback. Flags are checked
before any data is loaded or downloaded, and `train` never replaces a model already at `--out`
unless given `--force`. Ctrl-C during training stops after the current step and saves the last
finished epoch.

`train` also runs under torchrun (`torchrun --nproc-per-node N "$(command -v vae-explorer)" train
...`, the same flags): `vae.distributed` joins the processes, rank 0 alone prints and writes, and a
process that dies ends the others with a one-line error and nothing written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # the commands import the core lazily, so that --help answers at once
    import torch

    from .card import Metrics, ModelCard
    from .config import TrainConfig, VAEConfig
    from .distributed import Group


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
    t.add_argument("--autoencoder", action="store_true",
                   help="a plain deterministic autoencoder with the same layers: z = mu, no sampling, no KL term")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=2e-3,
                   help="Adam's learning rate (the peak of the cosine schedule); default 2e-3: with the decay to 0 "
                        "it ends lower than a constant 1e-3 (see benchmarks/RESULTS.md, benchmark 1)")
    t.add_argument("--schedule", default="cosine", choices=("constant", "cosine"))
    t.add_argument("--beta", type=float, default=1.0)
    t.add_argument("--warmup-epochs", type=int, default=0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"),
                   help="bfloat16: matrix products in bfloat16 (autocast; for an MLP on the CPU, oneDNN's bfloat16 "
                        "mode for float32 products), weights and loss stay float32; "
                        "auto (default): bfloat16 where the device has it natively (CPUs with AVX512-BF16 or AMX, "
                        "GPUs from Ampere on), else float32; the card records which ran")
    t.add_argument("--binarize", action="store_true",
                   help="dynamic binarisation: train on black-and-white pixels drawn afresh from the grey levels "
                        "every batch (Bernoulli decoder; test metrics stay on grey levels)")
    t.add_argument("--iwae-k", type=int, default=0, help="also estimate log p(x) with k importance samples (0: skip)")
    t.add_argument("--offline", action="store_true", help="never download datasets")
    t.add_argument("--out", required=True, type=Path, help="model directory to write, e.g. my-models/mnist-z2")
    t.add_argument("--force", action="store_true", help="replace a model already saved at --out")
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
    e.add_argument("--quiet", action="store_true", help="no progress bar")

    g = sub.add_parser("gaps", help="approximation and amortisation gaps on test images",
                       description="log p(x) - ELBO(encoder) split into the approximation gap (log p(x) - ELBO of the best "
                                   "Gaussian fitted to each image) and the amortisation gap (that ELBO - the encoder's), "
                                   "after Cremer, Li & Duvenaud (2018); means in nats per image over the first --n test images.")
    g.add_argument("model_dir", type=Path)
    g.add_argument("--n", type=int, default=100, help="number of test images (the first N)")
    g.add_argument("--steps", type=int, default=500, help="Adam steps fitting each image's Gaussian")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--offline", action="store_true", help="never download datasets")
    g.add_argument("--json", action="store_true", help="print one JSON object")

    b = sub.add_parser("train-bnn", help="train a Bayesian neural network classifier and its deterministic twin",
                       description="Train a digit classifier whose weights are Gaussians (Bayes by Backprop, Blundell et al. "
                                   "2015) and a deterministic network of the same layers; save both in one folder.")
    b.add_argument("--dataset", default="mnist", choices=DATASETS)
    b.add_argument("--hidden-dims", type=_hidden_dims, default=(200, 200), help="comma-separated widths")
    b.add_argument("--prior-std", type=float, default=1.0, help="std s of the prior N(0, s^2) on every weight")
    b.add_argument("--epochs", type=int, default=20)
    b.add_argument("--batch-size", type=int, default=128)
    b.add_argument("--lr", type=float, default=1e-3)
    b.add_argument("--samples", type=int, default=30, help="weight draws per prediction in the test metrics")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--offline", action="store_true", help="never download datasets")
    b.add_argument("--out", required=True, type=Path, help="folder to write, e.g. models/mnist-bnn")
    b.add_argument("--force", action="store_true", help="replace a model already saved at --out")

    i = sub.add_parser("info", help="show a model's card", description="Print a model directory's card.json.")
    i.add_argument("model_dir", type=Path)
    i.add_argument("--json", action="store_true", help="print the raw card as JSON")
    return parser


def _check_iwae_k(k: int) -> None:
    if k < 0:
        raise ValueError(f"--iwae-k must be an integer >= 0 (0: skip), got {k}")


def _check_device(name: str) -> "torch.device":
    """The torch.device for --device, refused at once when this machine does not have it."""
    import torch

    from .config import TrainConfig
    from .model import resolve_device

    device = None
    if name.split(":")[0] in TrainConfig.DEVICES:
        try:
            device = resolve_device(name)
        except RuntimeError:  # a malformed index such as "cuda:x"
            pass
    if device is None:
        raise ValueError(f"unknown --device {name!r}: use {', '.join(TrainConfig.DEVICES)} (cuda:1 for a second GPU)")
    present = {"cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available}
    if device.type in present and not present[device.type]():
        raise ValueError(f"--device {name}: this machine has no {device.type.upper()} device; use --device auto or cpu")
    return device


def _check_out(out: Path, force: bool) -> None:
    """Refuse to replace what is at --out (a model without --force, anything else always), before any work."""
    from .checkpoint import CARD_FILE, WEIGHTS_FILE

    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a model folder: choose another --out")
    if (out / CARD_FILE).exists() or (out / WEIGHTS_FILE).exists():
        if not force:
            raise ValueError(f"{out} already holds a model: pass --force to replace it, or choose another --out")
    elif any(out.iterdir()):  # saving swaps the whole folder: its files would be deleted
        raise ValueError(f"{out} is a folder of other files, not a model: choose another --out")


def _cmd_train(args: argparse.Namespace) -> int:
    from . import distributed
    from .config import TrainConfig, VAEConfig
    from .data import CLASS_NAMES, image_shape

    # Every flag is checked before the data is loaded (or downloaded) and long before training.
    group = distributed.from_env()  # torchrun's RANK and WORLD_SIZE; rank 0 of 1 otherwise
    config = VAEConfig(
        input_shape=image_shape(args.dataset), latent_dim=args.latent_dim, arch=args.arch,
        hidden_dims=args.hidden_dims, likelihood=args.likelihood, gaussian_std=args.gaussian_std,
        n_classes=len(CLASS_NAMES[args.dataset]) if args.conditional else 0, prior=args.prior,
        prior_components=args.prior_components, variational=not args.autoencoder,
    )
    tcfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, beta=args.beta, warmup_epochs=args.warmup_epochs,
        seed=args.seed, device=args.device, schedule=args.schedule, precision=args.precision,
        world_size=group.world_size, binarize=args.binarize,
    )
    if args.binarize and args.likelihood != "bernoulli":
        raise ValueError("--binarize draws black-and-white pixels for a Bernoulli decoder: drop it or use "
                         "--likelihood bernoulli")
    _check_iwae_k(args.iwae_k)
    device = _check_device(args.device)
    _check_out(args.out, args.force)
    if group.distributed:
        _stop_on_sigterm()
    with distributed.start(group, device) as group:
        return _train_and_save(args, config, tcfg, group)


def _stop_on_sigterm() -> None:
    """Under torchrun: SIGTERM (what torchrun sends the others when one process fails) ends this one
    with a one-line error, leaving --out as it was, instead of a silent death or a traceback."""
    from .distributed import PeerFailed

    def on_sigterm(signum, frame):
        if sys.exc_info()[1] is not None:  # already on the way out with an error: let it be reported
            return
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one report is enough
        raise PeerFailed("stopped by SIGTERM (torchrun stops every process when one of them fails)")

    signal.signal(signal.SIGTERM, on_sigterm)


def _train_and_save(args: argparse.Namespace, config: VAEConfig, tcfg: TrainConfig, group: Group) -> int:
    from tqdm import tqdm

    from . import distributed
    from .data import load_dataset
    from .model import build_model
    from .train import resolve_config, run_training, save_run

    download = False if args.offline else None
    with distributed.in_turn(group):  # rank 0 first: it may download, the others then read its files
        train = load_dataset(args.dataset, "train", download=download)
        test = load_dataset(args.dataset, "test", download=download)
    model = build_model(config, args.seed)
    tcfg = resolve_config(tcfg)  # precision "auto" chosen once, for this device; the card records the choice
    kind = ("conditional " if config.conditional else "") + config.arch + (" VAE" if config.variational else " autoencoder")
    how = f"precision {tcfg.precision}" + (f", {group.world_size} processes" if group.distributed else "")
    say = sys.stderr if group.is_main else None  # one voice: rank 0 reports for the run
    if say:
        print(f"training {kind} (z={config.latent_dim}, prior {config.prior}, {sum(p.numel() for p in model.parameters()):,} "
              f"parameters) on {args.dataset}: {len(train):,} train / {len(test):,} test images; {how}", file=say)

    interrupted = False

    def on_sigint(signum, frame):
        nonlocal interrupted
        # A second Ctrl-C gives up at once; not under torchrun, which passes the first one on as a second
        # SIGINT: there every process must reach the same step so that rank 0 can save.
        if interrupted and not group.distributed:
            raise KeyboardInterrupt
        interrupted = True

    previous = signal.signal(signal.SIGINT, on_sigint)
    bar = None

    def on_step(info) -> bool:
        nonlocal bar
        if bar is None and not args.quiet and say:
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
        if not say:
            return interrupted
        loss = "-ELBO" if config.variational else "loss "  # an autoencoder's loss is its reconstruction term
        print(f"epoch {record['epoch']:3d}/{tcfg.epochs}  train {loss} {record['train_neg_elbo']:7.2f}  "
              f"test {loss} {record['test_neg_elbo']:7.2f} (recon {record['test_recon']:7.2f}, KL {record['test_kl']:5.2f})  "
              f"{record['seconds']:.1f}s", file=sys.stderr)
        return interrupted

    try:
        labels = {"train_labels": train.y, "test_labels": test.y} if config.conditional else {}
        run = run_training(model, train.x, test.x, tcfg, on_epoch=on_epoch, on_step=on_step, **labels)
    finally:
        signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
    if not group.is_main:  # rank 0 measures and writes the model
        return 1 if run.status == "diverged" or not run.history else 0
    if run.error:
        print(f"error: {run.error}", file=sys.stderr)
    if not run.history:
        print("no epoch finished: nothing saved", file=sys.stderr)
        return 1
    if args.iwae_k > 0 and config.variational and not args.quiet:
        print(f"measuring log p(x) with {args.iwae_k} importance samples per test image...", file=sys.stderr)
    metrics = save_run(model, args.out, run, args.dataset, tcfg, len(train), test.x, iwae_k=args.iwae_k,
                       test_labels=test.y if config.conditional else None, trained_in="cli")
    print(f"test metrics on {args.dataset} ({len(test):,} images, nats per image):")
    print("\n".join(_metric_rows(metrics, config)))
    print(f"saved {args.out} ({run.status}, {len(run.history)} epochs)", file=sys.stderr)
    return 1 if run.status == "diverged" else 0


def _metric_rows(m: Metrics, config: VAEConfig) -> list[str]:
    """Indented rows of test metrics, nats per image, for a header the caller prints.

    A plain autoencoder has no ELBO (its KL is not a term of its loss): only its reconstruction.
    """
    if not config.variational:
        rows = [f"  reconstruction  {m.recon:8.2f}",
                "  -ELBO, KL, IWAE     n/a  (plain autoencoder: no q(z|x) distribution, no KL)"]
    else:
        rows = [f"  -ELBO           {m.neg_elbo:8.2f}",
                f"  reconstruction  {m.recon:8.2f}",
                f"  KL              {m.kl:8.2f}"]
    if m.iwae_nll is not None:
        rows.append(f"  -log p(x) IWAE  {m.iwae_nll:8.2f}  (k={m.iwae_k})")
    if m.active_units is not None:
        rows.append(f"  active units    {m.active_units:8d} of {config.latent_dim}")
    return rows


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .card import Metrics
    from .checkpoint import load_model, save_model
    from .data import image_shape, load_dataset
    from .train import model_metrics

    _check_iwae_k(args.iwae_k)
    if args.n_images is not None and args.n_images < 1:
        raise ValueError(f"--n-images must be an integer >= 1, got {args.n_images}")
    model, card = load_model(args.model_dir, device=_check_device(args.device))
    dataset = args.dataset or card.dataset
    if image_shape(dataset) != model.config.input_shape:
        raise ValueError(f"{dataset} images are {image_shape(dataset)}, the model expects {model.config.input_shape}")
    test = load_dataset(dataset, "test", download=False if args.offline else None)
    x = test.x[: args.n_images] if args.n_images else test.x
    y = test.y[: len(x)] if model.config.conditional else None

    bar, shown = None, 0

    def on_progress(done: int, total: int) -> None:  # a bar for the IWAE passes, which take nearly all the time
        nonlocal bar, shown
        if args.quiet or args.iwae_k == 0:
            return
        if bar is None:
            bar = tqdm(total=total, desc=f"log p(x), k={args.iwae_k}", unit="image", disable=None, leave=False,
                       file=sys.stderr)
        bar.update(done - shown)
        shown = done

    try:
        metrics = Metrics.from_dict(model_metrics(model, x, iwae_k=args.iwae_k, seed=args.seed, labels=y,
                                                  on_progress=on_progress))
    finally:
        if bar is not None:
            bar.close()
    if args.update_card:
        save_model(model.cpu(), args.model_dir, dataclasses.replace(card, metrics=metrics))
    if args.json:
        keys = ("neg_elbo", "recon", "kl", "iwae_nll", "iwae_k", "active_units", "n_images")
        print(json.dumps({**{k: getattr(metrics, k) for k in keys}, "dataset": dataset}))
    else:
        print(f"test metrics on {dataset} ({len(x):,} images, nats per image):")
        print("\n".join(_metric_rows(metrics, model.config)))
    return 0


def _cmd_gaps(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .checkpoint import load_model
    from .data import load_dataset
    from .inference import inference_gaps

    if args.n < 1:
        raise ValueError(f"--n must be an integer >= 1, got {args.n}")
    if args.steps < 1:
        raise ValueError(f"--steps must be an integer >= 1, got {args.steps}")
    if args.seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got {args.seed}")
    model, card = load_model(args.model_dir)
    if not card.config.variational:
        raise ValueError(f"{args.model_dir} is a plain autoencoder: it has no q(z|x) and no ELBO, so no inference gaps")
    test = load_dataset(card.dataset, "test", download=False if args.offline else None)
    x = test.x[: args.n]
    y = test.y[: len(x)] if model.config.conditional else None
    with tqdm(total=len(x), desc="fitting a Gaussian per image", unit="image", disable=None, leave=False,
              file=sys.stderr) as bar:
        gaps = inference_gaps(model, x, y, steps=args.steps, seed=args.seed, on_image=lambda done: bar.update(done - bar.n))
    means = {"log_px": gaps.log_px.mean(), "elbo_encoder": gaps.elbo_encoder.mean(),
             "elbo_optimised": gaps.elbo_optimised.mean(), "approximation_gap": gaps.approximation_gap.mean(),
             "amortisation_gap": gaps.amortisation_gap.mean()}
    if args.json:
        print(json.dumps({**{k: float(v) for k, v in means.items()}, "log_px_method": gaps.method, "steps": args.steps,
                          "n_images": len(x), "dataset": card.dataset}))
        return 0
    print(f"inference gaps on {card.dataset} ({len(x):,} test images, nats per image; log p(x) by {gaps.method}):")
    rows = [("log p(x)", "log_px"), ("ELBO, best Gaussian", "elbo_optimised"), ("ELBO, encoder", "elbo_encoder"),
            ("approximation gap", "approximation_gap"), ("amortisation gap", "amortisation_gap")]
    print("\n".join(f"  {label:<20}{means[key]:9.2f}" for label, key in rows))
    total = means["approximation_gap"] + means["amortisation_gap"]
    if total > 0:
        print(f"  the amortisation gap is {means['amortisation_gap'] / total:.0%} of log p(x) - ELBO(encoder)")
    return 0


def _cmd_train_bnn(args: argparse.Namespace) -> int:
    from . import bnn
    from .data import load_dataset

    if min(args.epochs, args.batch_size, args.samples) < 1 or not args.lr > 0:
        raise ValueError("--epochs, --batch-size and --samples must be >= 1 and --lr > 0")
    _check_out(args.out, args.force)
    download = False if args.offline else None
    train, test = (load_dataset(args.dataset, s, download=download) for s in ("train", "test"))
    c, h, w = train.image_shape
    config = bnn.BNNConfig(in_features=c * h * w, hidden_dims=args.hidden_dims, n_classes=len(train.class_names),
                           prior_std=args.prior_std)
    bayes, det = bnn.build_networks(config, args.seed)
    start, histories = time.perf_counter(), {}
    for name, net in zip(bnn.NETWORKS, (bayes, det)):
        print(f"training the {name} network ({'-'.join(map(str, config.sizes))}) on {args.dataset}: "
              f"{len(train):,} train / {len(test):,} test images", file=sys.stderr)
        histories[name] = bnn.fit_classifier(
            net, train.x, train.y, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
            test=(test.x, test.y), n_samples=min(args.samples, 10),
            on_epoch=lambda r: print(f"epoch {r['epoch']:3d}/{args.epochs}  train loss {r['train_loss']:7.4f}"
                                     + (f" (NLL {r['train_nll']:.4f} + KL/N {r['train_kl']:.4f})" if r["train_kl"] else "")
                                     + f"  test accuracy {r['test_accuracy']:.4f}  {r['seconds']:.1f}s", file=sys.stderr))
    seconds = time.perf_counter() - start
    metrics = {name: bnn.classifier_metrics(net, test.x, test.y, args.samples, args.seed)
               for name, net in zip(bnn.NETWORKS, (bayes, det))}
    card = bnn.ClassifierCard.new(config=config, dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size,
                                  lr=args.lr, seed=args.seed, n_train=len(train), n_test=len(test), history=histories,
                                  metrics=metrics, train_seconds=seconds, name=args.out.name)
    bnn.save_classifier(args.out, bayes, det, card)
    print(_classifier_metric_rows(card))
    print(f"saved {args.out} ({_duration(seconds)})", file=sys.stderr)
    return 0


def _classifier_metric_rows(card: Any) -> str:
    rows = [f"test metrics on {card.dataset} ({card.n_test:,} images):"]
    for name, m in card.metrics.items():
        rows.append(f"  {name:<14} accuracy {m.accuracy:.4f}  NLL {m.nll:.4f} nats  ECE {m.ece:.4f}"
                    + (f"  ({m.n_samples} weight draws)" if m.n_samples > 1 else ""))
    return "\n".join(rows)


def _cmd_info(args: argparse.Namespace) -> int:
    from .checkpoint import NotAVAE, check_weights, load_card

    try:
        card = load_card(args.model_dir)
    except NotAVAE:
        return _classifier_info(args)
    check_weights(args.model_dir, card)  # from the file's header: a missing or mismatched weights file
    if args.json:
        print(json.dumps(card.to_dict(), indent=2))
        return 0
    c, tc = card.config, card.train_config

    def row(label: str, text: str) -> str:
        return f"{label:<16}{text}"

    def count(n: int | None) -> str:
        return "?" if n is None else f"{n:,}"

    arch = [f"MLP {'-'.join(map(str, c.hidden_dims))}" if c.arch == "mlp"
            else f"conv {'-'.join(map(str, c.hidden_dims))} channels",
            f"latent {c.latent_dim}",
            "Bernoulli decoder" if c.likelihood == "bernoulli" else f"Gaussian decoder (std {c.gaussian_std:g})",
            "standard prior" if c.prior == "standard" else f"mixture prior of {c.prior_components} Gaussians"]
    if c.conditional:
        arch.append(f"conditional on {c.n_classes} classes")
    if not c.variational:
        arch.append("plain autoencoder (no sampling, no KL term)")
    run = [f"{len(card.history)} of {tc.epochs} epochs" if tc else f"{len(card.history)} epochs",
           card.status or "status unknown"]
    if card.train_seconds is not None:
        run.append(_duration(card.train_seconds))
    if card.trained_in:
        run.append(f"trained in the {card.trained_in}")
    lines = [row("model", str(args.model_dir)),
             row("dataset", f"{card.dataset} ({count(card.n_train)} train / {count(card.n_test)} test images)"),
             row("architecture", ", ".join(arch)),
             row("training", ", ".join(run))]
    if tc is not None:
        lines.append(row("", f"batch {tc.batch_size}, lr {tc.lr:g} ({tc.schedule}), beta {tc.beta:g}, "
                             f"warm-up {tc.warmup_epochs} epochs, seed {tc.seed}, {tc.precision}"
                             + (f", {tc.world_size} processes" if tc.world_size > 1 else "")))
    m = card.metrics
    if m is None:
        lines.append(row("test metrics", "not measured (vae-explorer evaluate --update-card stores them)"))
    else:
        on = f", {m.n_images:,} images" if m.n_images is not None else ""
        lines += [row("test metrics", f"nats per image{on}"), *_metric_rows(m, c)]
    lines.append(row("created", _created(card)))
    print("\n".join(lines))
    return 0


def _classifier_info(args: argparse.Namespace) -> int:
    from .bnn import load_classifier

    _, _, card = load_classifier(args.model_dir)
    if args.json:
        print(json.dumps(card.to_dict(), indent=2))
        return 0
    c = card.config
    print("\n".join([
        f"{'model':<16}{args.model_dir}",
        f"{'kind':<16}Bayesian neural network classifier (Bayes by Backprop) and its deterministic twin",
        f"{'dataset':<16}{card.dataset} ({card.n_train:,} train / {card.n_test:,} test images)",
        f"{'layers':<16}{'-'.join(map(str, c.sizes))}, prior N(0, {c.prior_std:g}^2) on every weight",
        f"{'training':<16}{card.epochs} epochs each, batch {card.batch_size}, lr {card.lr:g}, seed {card.seed}, "
        f"{_duration(card.train_seconds)}",
        _classifier_metric_rows(card)]))
    return 0


def _duration(seconds: float) -> str:
    if seconds < 59.5:
        return f"{seconds:.1f} s"
    whole = round(seconds)  # round first: 119.6 s is "2 min 0 s", not "1 min 60 s"
    return f"{whole // 60} min {whole % 60} s"


def _created(card: ModelCard) -> str:
    """Creation time (UTC, to the minute) and the library versions, on one line."""
    try:
        when = datetime.fromisoformat(card.created_at).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        when = card.created_at or "date unknown"
    versions = ", ".join(f"{k} {v}" for k, v in card.versions.items())
    return f"{when} with {versions}" if versions else when


def main(argv: Sequence[str] | None = None) -> int:
    from .checkpoint import CheckpointError
    from .data import DatasetUnavailable
    from .distributed import PeerFailed

    args = build_parser().parse_args(argv)
    command = {"train": _cmd_train, "evaluate": _cmd_evaluate, "gaps": _cmd_gaps, "train-bnn": _cmd_train_bnn,
               "info": _cmd_info}[args.command]
    try:
        return command(args)
    except PeerFailed as e:  # a multi-process run lost a process: this one saved nothing
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # torchrun's SIGTERM to the survivors: we are leaving
        print(f"error: {_whose()}{e}; nothing was saved", file=sys.stderr)
        return 1
    except (CheckpointError, DatasetUnavailable, ValueError, OSError) as e:  # OSError: e.g. --out not writable
        # Under torchrun every process sees the same flags and files: rank 0 speaks for them.
        if not isinstance(e, (ValueError, DatasetUnavailable)) or not _whose():
            print(f"error: {_whose()}{e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _whose() -> str:
    """"" for a single process or rank 0 of several; "process R of N: " for the others."""
    from .distributed import from_env

    try:
        group = from_env()
    except ValueError:
        return ""
    return f"process {group.rank} of {group.world_size}: " if group.rank else ""


def run() -> None:
    """The `vae-explorer` command: subnormal floats flushed to zero (`vae.train.flush_denormals`),
    `main`, then leave without tearing the interpreter down.

    Everything is written and closed by then (models atomically, outputs flushed below); unloading
    torch's modules one by one would only add about 0.9 s to every command (measured: a process
    that imported torch and stepped Adam exits in 0.9 s less this way).
    """
    from .train import flush_denormals

    flush_denormals()  # before torch starts its worker threads: they copy the setting
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
