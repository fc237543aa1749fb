"""The browser decoder: a JSON spec of a model's decoder that the page decodes with in JavaScript.

`decoder_spec` walks an MLP decoder (Linear / ReLU / Unflatten) and writes each layer's weights
as base64 little-endian float32, so a page can send them to the browser once and decode every
slider movement there. `decode_with_spec` is the NumPy reference of exactly what the browser's
`decoder_math.js` computes (float64 sums, float32 storage between layers, a final sigmoid); the
tests check both against `VAE.generate`. The mean of p(x|z) is sigmoid(decoder(z)) for both
likelihoods: the Gaussian decoder applies the sigmoid inside `decode`, the Bernoulli one in
`mean_image` (see `vae.model`).

"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import torch
from torch import nn

from vae.model import VAE

SPEC_FORMAT = "vae-explorer/decoder-spec"
SPEC_VERSION = 1


# --- base64 float32 arrays ----------------------------------------------------------------------

def encode_f32(arr: np.ndarray | torch.Tensor) -> str:
    """Base64 of an array as little-endian float32, row-major (C order)."""
    if isinstance(arr, torch.Tensor):
        arr = arr.detach().cpu().numpy()
    return base64.b64encode(np.ascontiguousarray(arr, dtype="<f4").tobytes()).decode("ascii")


def decode_f32(text: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Inverse of `encode_f32`: a float32 array, reshaped to `shape` when given."""
    arr = np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)
    return arr.reshape(shape) if shape is not None else arr


# --- the decoder as data ------------------------------------------------------------------------

def _leaf_modules(module: nn.Module) -> list[nn.Module]:
    """The decoder's modules in execution order, nested Sequentials flattened."""
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _leaf_modules(child)]
    return [module]


def _unsupported(model: VAE) -> str | None:
    """Why `model.decoder` cannot be written as a spec, or None when it can."""
    leaves = _leaf_modules(model.decoder)
    for m in leaves:
        if not isinstance(m, (nn.Linear, nn.ReLU, nn.Unflatten, nn.Flatten, nn.Identity)):
            return f"its decoder contains {type(m).__name__} (arch {model.config.arch!r}); only Linear and ReLU layers can be sent to the browser"
    if not any(isinstance(m, nn.Linear) for m in leaves):
        return "its decoder has no Linear layer"
    return None


def supports_live_decoding(model: VAE) -> bool:
    """True when the decoder is a plain MLP that `decoder_spec` can export."""
    return _unsupported(model) is None


def decoder_spec(model: VAE, label: int = 0) -> dict[str, Any]:
    """The decoder as JSON-able data for the browser's forward pass.

    A conditional model's first layer reads [z, onehot(y)], so W [z; e_y] + b = W[:, :D] z +
    (b + W[:, D + y]): a plain layer on z with one bias per label. The spec then carries all K
    biases as "label_biases" (base64 float32 (K, out) row-major) and uses `label`'s as the
    first layer's bias, so the browser switches digits without new weights.

    Returns {"format", "version", "latent_dim", "output_shape": [C, H, W], "final": "sigmoid",
    "layers": [{"in": n, "out": m, "weight": base64 float32 (out, in) row-major,
    "bias": base64 float32 (out,), "activation": "relu" | "none"}, ...]}.
    Raises ValueError for decoders that are not MLPs (the conv architecture).
    """
    reason = _unsupported(model)
    if reason is not None:
        raise ValueError(f"this model cannot be decoded in the browser: {reason}. Decode it on the server instead.")
    d, k = model.config.latent_dim, model.config.n_classes
    if k and not 0 <= int(label) < k:
        raise ValueError(f"a conditional model's decoder spec needs a label in 0..{k - 1}, got {label!r}")
    layers: list[dict[str, Any]] = []
    label_biases = None
    for m in _leaf_modules(model.decoder):
        if isinstance(m, nn.Linear):
            weight = m.weight.detach()  # (out, in)
            bias = m.bias.detach() if m.bias is not None else torch.zeros(m.out_features)
            if not layers and k:
                label_biases = bias[None, :] + weight[:, d:].T  # (K, out): row y is b + W[:, D + y]
                weight, bias = weight[:, :d], label_biases[int(label)]
            n_in = weight.shape[1]
            if layers and layers[-1]["out"] != n_in:
                raise ValueError(f"decoder layer sizes do not chain: {layers[-1]['out']} -> {n_in}")
            layers.append({"in": n_in, "out": m.out_features, "weight": encode_f32(weight),
                           "bias": encode_f32(bias), "activation": "none"})
        elif isinstance(m, nn.ReLU):
            if not layers or layers[-1]["activation"] != "none":
                raise ValueError("a ReLU in the decoder must follow a Linear layer")
            layers[-1]["activation"] = "relu"
        # Unflatten / Flatten / Identity only reshape: the spec's output is flat, shaped by output_shape.
    c, h, w = model.config.input_shape
    if layers[0]["in"] != model.config.latent_dim or layers[-1]["out"] != c * h * w:
        raise ValueError(f"decoder maps {layers[0]['in']} -> {layers[-1]['out']} values, expected "
                         f"{model.config.latent_dim} -> {c * h * w}")
    spec = {
        "format": SPEC_FORMAT, "version": SPEC_VERSION, "latent_dim": model.config.latent_dim,
        "output_shape": [c, h, w], "final": "sigmoid", "layers": layers,
    }
    if label_biases is not None:
        spec["label_biases"] = {"n": k, "data": encode_f32(label_biases)}
    return spec


def decode_with_spec(spec: dict[str, Any], z: np.ndarray | torch.Tensor, label: int | None = None) -> np.ndarray:
    """Mean images (N, C, H, W) float32 for codes z (N, D) or (D,), computed as the browser does.

    label: for a conditional model's spec, use that label's first-layer bias (default: the spec's own).
    """
    z = np.asarray(z.detach().cpu() if isinstance(z, torch.Tensor) else z, dtype=np.float32)
    x = z.reshape(-1, spec["latent_dim"])  # (N, D)
    for i, layer in enumerate(spec["layers"]):
        weight = decode_f32(layer["weight"], (layer["out"], layer["in"])).astype(np.float64)
        bias = decode_f32(layer["bias"]).astype(np.float64)
        if i == 0 and label is not None:
            if "label_biases" not in spec:
                raise ValueError("this spec is not a conditional model's: it has no label biases")
            bias = decode_f32(spec["label_biases"]["data"], (spec["label_biases"]["n"], layer["out"]))[label].astype(np.float64)
        h = x.astype(np.float64) @ weight.T + bias  # JS sums in float64 ...
        if layer["activation"] == "relu":
            h = np.maximum(h, 0.0)
        x = h.astype(np.float32)  # ... and stores each layer in a Float32Array
    if spec["final"] != "sigmoid":
        raise ValueError(f"unknown final activation {spec['final']!r}")
    out = (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)
    return out.reshape(-1, *spec["output_shape"])


def spec_nbytes(spec: dict[str, Any]) -> int:
    """Number of float32 bytes of weights the spec carries (before base64's 4/3)."""
    return sum(4 * (layer["in"] * layer["out"] + layer["out"]) for layer in spec["layers"])


def draw_order(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """A seeded order to draw points in (indices into `labels`) that spreads every class evenly over it.

    Drawn in the data's own order, whichever class comes last covers the others where clusters
    overlap (a test set sorted by class hides all but the last class). Here each class's points
    are shuffled and spaced evenly from the start of the order to its end, so any stretch of it,
    the last points drawn included, holds every class in proportion.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    key = np.empty(len(labels))
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        key[idx] = (rng.permutation(len(idx)) + rng.random(len(idx))) / len(idx)  # one point per 1/n_k stratum
    return np.argsort(key, kind="stable")


def points_payload(mu: np.ndarray, labels: np.ndarray, dims: tuple[int, int] = (0, 1),
                   seed: int | None = None) -> dict[str, Any]:
    """Test codes for the browser's latent pad: {"n", "xy": base64 float32 (N, 2), "labels": [int]}.

    seed: draw the points in `draw_order(labels, seed)` (the browser draws them in the order
    sent); None keeps the data's order.
    """
    mu, labels = np.asarray(mu, dtype=np.float32), np.asarray(labels, dtype=np.int64)
    if seed is not None:
        order = draw_order(labels, seed)
        mu, labels = mu[order], labels[order]
    xy = mu[:, list(dims)]  # (N, 2)
    return {"n": len(xy), "xy": encode_f32(xy), "labels": labels.tolist()}
