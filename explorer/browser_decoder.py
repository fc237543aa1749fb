"""The browser decoder: a JSON spec of a model's decoder that the page decodes with in JavaScript.

`decoder_spec` walks a decoder made of Linear, ConvTranspose2d, ReLU and reshaping layers (the
"mlp" and the "conv" architectures of `vae.model`) and writes each layer's weights as base64
little-endian float32, so a page can send them to the browser once and decode every slider
movement there. `decode_with_spec` is the NumPy reference of exactly what the browser's
`decoder_math.js` computes (float64 sums, float32 storage between layers, a final sigmoid); the
tests check both against `VAE.generate`. The mean of p(x|z) is sigmoid(decoder(z)) for both
likelihoods: the Gaussian decoder applies the sigmoid inside `decode`, the Bernoulli one in
`mean_image` (see `vae.model`).

Float32, not float16: weights rounded to float16 move the shipped models' decoded pixels by more
than the 1e-4 the browser is held to (tests/test_export.py checks both on the conv models).
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from vae.model import VAE

SPEC_FORMAT = "vae-explorer/decoder-spec"
SPEC_VERSION = 2  # 2: layers carry a "type", and "conv_transpose2d" joined "linear"

LINEAR, CONV_TRANSPOSE = "linear", "conv_transpose2d"
_RESHAPES = (nn.Unflatten, nn.Flatten, nn.Identity)


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
        if not isinstance(m, (nn.Linear, nn.ConvTranspose2d, nn.ReLU, *_RESHAPES)):
            return (f"its decoder contains {type(m).__name__} (arch {model.config.arch!r}); only Linear, "
                    "ConvTranspose2d and ReLU layers can be sent to the browser")
        if isinstance(m, nn.ConvTranspose2d) and (m.groups != 1 or m.dilation != (1, 1) or m.padding_mode != "zeros"):
            return "its decoder has a ConvTranspose2d with groups, dilation or a padding mode the browser does not implement"
    weighted = [m for m in leaves if isinstance(m, (nn.Linear, nn.ConvTranspose2d))]
    if not weighted:
        return "its decoder has no Linear layer"
    if model.config.n_classes and not isinstance(weighted[0], nn.Linear):
        return "a conditional decoder must start with a Linear layer (the label is folded into its bias)"
    return None


def supports_live_decoding(model: VAE) -> bool:
    """True when `decoder_spec` can export the decoder (the MLP and the conv architectures)."""
    return _unsupported(model) is None


def _conv_out(size: int, m: nn.ConvTranspose2d, axis: int) -> int:
    """ConvTranspose2d's output size along one axis (PyTorch's formula, dilation 1)."""
    return (size - 1) * m.stride[axis] - 2 * m.padding[axis] + m.kernel_size[axis] + m.output_padding[axis]


def decoder_spec(model: VAE, label: int = 0) -> dict[str, Any]:
    """The decoder as JSON-able data for the browser's forward pass.

    A conditional model's first layer reads [z, onehot(y)], so W [z; e_y] + b = W[:, :D] z +
    (b + W[:, D + y]): a plain layer on z with one bias per label. The spec then carries all K
    biases as "label_biases" (base64 float32 (K, out) row-major) and uses `label`'s as the
    first layer's bias, so the browser switches digits without new weights.

    Returns {"format", "version", "latent_dim", "output_shape": [C, H, W], "final": "sigmoid",
    "layers": [...]}. Every layer has "type", "in" and "out" (flat sizes: activations travel
    between layers as flat channel-major arrays), "weight", "bias" (base64 float32) and
    "activation": "relu" | "none". A "linear" layer's weight is (out, in) row-major; a
    "conv_transpose2d" layer's is PyTorch's (C_in, C_out, kH, kW), with "in_shape" [C_in, H, W],
    "out_shape" [C_out, H', W'], "kernel", "stride", "padding" and "output_padding" as [h, w].
    Raises ValueError for decoders made of anything else.
    """
    reason = _unsupported(model)
    if reason is not None:
        raise ValueError(f"this model cannot be decoded in the browser: {reason}. Decode it on the server instead.")
    d, k = model.config.latent_dim, model.config.n_classes
    if k and not 0 <= int(label) < k:
        raise ValueError(f"a conditional model's decoder spec needs a label in 0..{k - 1}, got {label!r}")
    layers: list[dict[str, Any]] = []
    label_biases = None
    shape: tuple[int, ...] = (d,)  # the activation's shape, batch dimension left out
    for m in _leaf_modules(model.decoder):
        if isinstance(m, nn.Linear):
            weight = m.weight.detach()  # (out, in)
            bias = m.bias.detach() if m.bias is not None else torch.zeros(m.out_features)
            if not layers and k:
                label_biases = bias[None, :] + weight[:, d:].T  # (K, out): row y is b + W[:, D + y]
                weight, bias = weight[:, :d], label_biases[int(label)]
            n_in = weight.shape[1]
            if math.prod(shape) != n_in:
                raise ValueError(f"decoder layer sizes do not chain: {math.prod(shape)} -> {n_in}")
            layers.append({"type": LINEAR, "in": n_in, "out": m.out_features, "weight": encode_f32(weight),
                           "bias": encode_f32(bias), "activation": "none"})
            shape = (m.out_features,)
        elif isinstance(m, nn.ConvTranspose2d):
            if len(shape) != 3 or shape[0] != m.in_channels:
                raise ValueError(f"a ConvTranspose2d with {m.in_channels} input channels cannot follow an "
                                 f"activation of shape {list(shape)}")
            out_shape = (m.out_channels, _conv_out(shape[1], m, 0), _conv_out(shape[2], m, 1))
            bias = m.bias.detach() if m.bias is not None else torch.zeros(m.out_channels)
            layers.append({"type": CONV_TRANSPOSE, "in": math.prod(shape), "out": math.prod(out_shape),
                           "in_shape": list(shape), "out_shape": list(out_shape), "kernel": list(m.kernel_size),
                           "stride": list(m.stride), "padding": list(m.padding),
                           "output_padding": list(m.output_padding),
                           "weight": encode_f32(m.weight.detach()), "bias": encode_f32(bias), "activation": "none"})
            shape = out_shape
        elif isinstance(m, nn.ReLU):
            if not layers or layers[-1]["activation"] != "none":
                raise ValueError("a ReLU in the decoder must follow a Linear or ConvTranspose2d layer")
            layers[-1]["activation"] = "relu"
        elif isinstance(m, nn.Unflatten):
            # Only a view: the flat channel-major array is unchanged, the next layer reads it as this shape.
            sizes = tuple(int(s) for s in m.unflattened_size)
            if m.dim != 1 or math.prod(sizes) != math.prod(shape):
                raise ValueError(f"cannot unflatten an activation of shape {list(shape)} to {list(sizes)}")
            shape = sizes
        elif isinstance(m, nn.Flatten):
            shape = (math.prod(shape),)
    c, h, w = model.config.input_shape
    if layers[0]["in"] != d or layers[-1]["out"] != c * h * w:
        raise ValueError(f"decoder maps {layers[0]['in']} -> {layers[-1]['out']} values, expected "
                         f"{d} -> {c * h * w}")
    spec = {
        "format": SPEC_FORMAT, "version": SPEC_VERSION, "latent_dim": d,
        "output_shape": [c, h, w], "final": "sigmoid", "layers": layers,
    }
    if label_biases is not None:
        spec["label_biases"] = {"n": k, "data": encode_f32(label_biases)}
    return spec


def _conv_transpose(x: np.ndarray, layer: dict[str, Any]) -> np.ndarray:
    """ConvTranspose2d of float64 activations (N, C_in, H, W) -> (N, C_out, H', W'), without the bias.

    out[:, o, y*s - p + ky, x*s - p + kx] += sum_c x[:, c, y, x] * w[c, o, ky, kx], one kernel tap at a time.
    """
    c_out, h_out, w_out = layer["out_shape"]
    c_in, h_in, w_in = layer["in_shape"]
    (kh, kw), (sh, sw), (ph, pw) = layer["kernel"], layer["stride"], layer["padding"]
    weight = decode_f32(layer["weight"], (c_in, c_out, kh, kw)).astype(np.float64)
    out = np.zeros((x.shape[0], c_out, h_out, w_out))
    for ky in range(kh):
        oy = np.arange(h_in) * sh - ph + ky
        iy = np.flatnonzero((oy >= 0) & (oy < h_out))
        for kx in range(kw):
            ox = np.arange(w_in) * sw - pw + kx
            ix = np.flatnonzero((ox >= 0) & (ox < w_out))
            tap = np.einsum("nchw,co->nohw", x[:, :, iy][:, :, :, ix], weight[:, :, ky, kx])  # (N, C_out, |iy|, |ix|)
            out[:, :, oy[iy][:, None], ox[ix][None, :]] += tap
    return out


def decode_with_spec(spec: dict[str, Any], z: np.ndarray | torch.Tensor, label: int | None = None) -> np.ndarray:
    """Mean images (N, C, H, W) float32 for codes z (N, D) or (D,), computed as the browser does.

    label: for a conditional model's spec, use that label's first-layer bias (default: the spec's own).
    """
    z = np.asarray(z.detach().cpu() if isinstance(z, torch.Tensor) else z, dtype=np.float32)
    x = z.reshape(-1, spec["latent_dim"])  # (N, D)
    n = x.shape[0]
    for i, layer in enumerate(spec["layers"]):
        bias = decode_f32(layer["bias"]).astype(np.float64)
        if i == 0 and label is not None:
            if "label_biases" not in spec:
                raise ValueError("this spec is not a conditional model's: it has no label biases")
            bias = decode_f32(spec["label_biases"]["data"], (spec["label_biases"]["n"], layer["out"]))[label].astype(np.float64)
        kind = layer.get("type", LINEAR)  # version-1 specs had linear layers only
        if kind == LINEAR:
            weight = decode_f32(layer["weight"], (layer["out"], layer["in"])).astype(np.float64)
            h = x.reshape(n, -1).astype(np.float64) @ weight.T + bias  # JS sums in float64 ...
        elif kind == CONV_TRANSPOSE:
            h = _conv_transpose(x.reshape(n, *layer["in_shape"]).astype(np.float64), layer) + bias[None, :, None, None]
        else:
            raise ValueError(f"unknown layer type {kind!r}")
        if layer["activation"] == "relu":
            h = np.maximum(h, 0.0)
        x = h.reshape(n, -1).astype(np.float32)  # ... and stores each layer, flat, in a Float32Array
    if spec["final"] != "sigmoid":
        raise ValueError(f"unknown final activation {spec['final']!r}")
    out = (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)
    return out.reshape(-1, *spec["output_shape"])


def spec_nbytes(spec: dict[str, Any]) -> int:
    """Number of float32 bytes of weights and biases the spec carries (before base64's 4/3)."""
    return sum(len(base64.b64decode(layer[key])) for layer in spec["layers"] for key in ("weight", "bias"))


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
