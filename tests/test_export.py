"""Decoder export for the browser, MLP and conv (checked against PyTorch and against the JS under Node), model zip, marked grids."""

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import vae
from explorer.browser_decoder import (decode_f32, decode_with_spec, decoder_spec, encode_f32, points_payload, spec_nbytes,
                                      supports_live_decoding)
from explorer.images import mark_cell, nearest_cell, tile
from explorer.registry import model_zip
from tests.data_root import require_shipped_model
from vae.latent import grid_values, manifold_codes

DECODER_MATH_JS = Path(__file__).resolve().parent.parent / "pages" / "ui" / "components" / "decoder_math.js"
MODELS = Path(__file__).resolve().parent.parent / "models"


def _model(latent_dim: int, likelihood: str = "bernoulli", arch: str = "mlp", hidden=(32, 16), shape=(1, 8, 8), seed=0):
    torch.manual_seed(seed)
    model = vae.VAE(vae.VAEConfig(input_shape=shape, latent_dim=latent_dim, hidden_dims=hidden, arch=arch,
                                  likelihood=likelihood)).eval()
    # Spread the weights beyond the default init so the sigmoid is not stuck near 0.5.
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.mul_(3.0)
    return model


def test_f32_base64_round_trip_is_little_endian():
    a = np.array([[1.5, -2.0], [3.25, 0.0]], dtype=np.float32)
    text = encode_f32(a)
    assert np.frombuffer(__import__("base64").b64decode(text), dtype="<f4").tolist() == [1.5, -2.0, 3.25, 0.0]
    np.testing.assert_array_equal(decode_f32(text, (2, 2)), a)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("latent_dim", [2, 16])
def test_decode_with_spec_matches_torch_generate(latent_dim, likelihood):
    model = _model(latent_dim, likelihood)
    spec = json.loads(json.dumps(decoder_spec(model)))  # survives JSON, as it does on the way to the browser
    assert spec["latent_dim"] == latent_dim and spec["output_shape"] == [1, 8, 8] and spec["final"] == "sigmoid"
    assert [(l["in"], l["out"], l["activation"]) for l in spec["layers"]] == [
        (latent_dim, 16, "relu"), (16, 32, "relu"), (32, 64, "none")]
    z = torch.randn(20, latent_dim, generator=torch.Generator().manual_seed(1)) * 2
    expected = model.generate(z).detach().numpy()
    got = decode_with_spec(spec, z)
    assert got.shape == (20, 1, 8, 8) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(decode_with_spec(spec, z[0].numpy()), expected[:1], atol=1e-5, rtol=0)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("shape,hidden", [((1, 8, 8), (4, 8)), ((1, 28, 28), (8, 16))])
def test_a_conv_decoder_s_spec_decodes_as_torch_does(shape, hidden, likelihood):
    model = _model(2, likelihood, arch="conv", hidden=hidden, shape=shape)
    assert supports_live_decoding(model)
    spec = json.loads(json.dumps(decoder_spec(model)))
    c1, c2 = hidden
    h = shape[1]
    assert [(l["type"], l["in"], l["out"], l["activation"]) for l in spec["layers"]] == [
        ("linear", 2, 256, "relu"), ("linear", 256, c2 * (h // 4) ** 2, "relu"),
        ("conv_transpose2d", c2 * (h // 4) ** 2, c1 * (h // 2) ** 2, "relu"), ("conv_transpose2d", c1 * (h // 2) ** 2, h * h, "none")]
    conv = spec["layers"][2]
    assert conv["in_shape"] == [c2, h // 4, h // 4] and conv["out_shape"] == [c1, h // 2, h // 2]
    assert (conv["kernel"], conv["stride"], conv["padding"], conv["output_padding"]) == ([4, 4], [2, 2], [1, 1], [0, 0])
    assert spec_nbytes(spec) == 4 * sum(p.numel() for p in model.decoder.parameters())
    z = torch.randn(20, 2, generator=torch.Generator().manual_seed(1)) * 2
    expected = model.generate(z).detach().numpy()
    got = decode_with_spec(spec, z)
    assert got.shape == (20, *shape) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def _odd_deconv_model() -> vae.VAE:
    """Beyond the shipped layer (k4 s2 p1): kernels 3x5, strides 3x2, padding and output_padding, no bias."""
    deconv = nn.ConvTranspose2d(3, 2, (3, 5), stride=(3, 2), padding=(1, 2), output_padding=(1, 1), bias=False)
    model = _model(2, hidden=(12,), shape=(2, 11, 8))
    model.decoder = nn.Sequential(nn.Linear(2, 3 * 4 * 4), nn.ReLU(), nn.Unflatten(1, (3, 4, 4)), deconv)
    return model


def test_the_transposed_convolution_handles_odd_strides_and_output_padding():
    model = _odd_deconv_model()
    spec = decoder_spec(model)
    assert spec["layers"][1]["out_shape"] == [2, 11, 8]
    z = torch.randn(6, 2, generator=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(decode_with_spec(spec, z), model.generate(z).detach().numpy(), atol=1e-5, rtol=0)


def test_decoders_the_browser_cannot_run_are_refused_with_a_clear_error():
    model = _model(2, arch="conv", hidden=(4, 8))
    model.decoder[-1] = nn.Conv2d(4, 1, 3, padding=1)  # not a layer decoder_math.js implements
    assert not supports_live_decoding(model)
    with pytest.raises(ValueError, match="contains Conv2d.*only Linear, ConvTranspose2d and ReLU"):
        decoder_spec(model)
    dilated = _model(2, arch="conv", hidden=(4, 8))
    dilated.decoder[-1].dilation = (2, 2)
    with pytest.raises(ValueError, match="groups, dilation or a padding mode"):
        decoder_spec(dilated)


def _run_node(spec: dict, codes: np.ndarray, tmp_path: Path, labels: list[int | None] = (None,)) -> np.ndarray:
    """Decode `codes` with decoder_math.js under Node, once per label (None: the spec's own); (L, N, C*H*W)."""
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "codes.json").write_text(json.dumps(codes.tolist()))
    script = f"""
        const fs = require("fs");
        const {{ decodeSpec, forward }} = require({json.dumps(str(DECODER_MATH_JS))});
        const dec = decodeSpec(JSON.parse(fs.readFileSync({json.dumps(str(tmp_path / "spec.json"))}, "utf8")));
        const codes = JSON.parse(fs.readFileSync({json.dumps(str(tmp_path / "codes.json"))}, "utf8"));
        const labels = {json.dumps(list(labels))};
        process.stdout.write(JSON.stringify(labels.map((y) => codes.map((z) => Array.from(forward(dec, z, y))))));
    """
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=120, check=True)
    got = np.array(json.loads(out.stdout), dtype=np.float64)
    return got if len(labels) > 1 else got[0]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
@pytest.mark.parametrize("latent_dim,likelihood", [(2, "bernoulli"), (16, "gaussian")])
def test_browser_forward_pass_under_node_matches_torch(latent_dim, likelihood, tmp_path):
    model = _model(latent_dim, likelihood, hidden=(64, 32), shape=(1, 28, 28))
    codes = (torch.randn(20, latent_dim, generator=torch.Generator().manual_seed(2)) * 1.5).float()
    expected = model.generate(codes).detach().numpy().reshape(20, -1)
    got = _run_node(decoder_spec(model), codes.numpy(), tmp_path)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-4
    np.testing.assert_allclose(got, decode_with_spec(decoder_spec(model), codes).reshape(20, -1), atol=1e-6, rtol=0)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
@pytest.mark.parametrize("latent_dim,likelihood", [(2, "bernoulli"), (16, "gaussian")])
def test_conv_forward_pass_under_node_matches_torch(latent_dim, likelihood, tmp_path):
    """The shipped conv layout (channels 32, 64 on 28x28: transposed convolutions 64 -> 32 -> 1)."""
    model = _model(latent_dim, likelihood, arch="conv", hidden=(32, 64), shape=(1, 28, 28))
    codes = (torch.randn(20, latent_dim, generator=torch.Generator().manual_seed(2)) * 1.5).float()
    expected = model.generate(codes).detach().numpy().reshape(20, -1)
    spec = decoder_spec(model)
    got = _run_node(spec, codes.numpy(), tmp_path)
    assert got.shape == expected.shape and 0.05 < expected.std()  # images with contrast, not a flat 0.5
    assert np.abs(got - expected).max() <= 1e-4
    np.testing.assert_allclose(got, decode_with_spec(spec, codes).reshape(20, -1), atol=1e-6, rtol=0)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_odd_strides_and_output_padding_decode_in_node_as_torch_does(tmp_path):
    model = _odd_deconv_model()
    codes = torch.randn(6, 2, generator=torch.Generator().manual_seed(3))
    expected = model.generate(codes).detach().numpy().reshape(6, -1)  # two channels, 11 x 8, channel-major
    assert np.abs(_run_node(decoder_spec(model), codes.numpy(), tmp_path) - expected).max() <= 1e-4


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_a_conditional_conv_spec_decodes_every_label_in_node_as_torch_does(tmp_path):
    torch.manual_seed(0)
    model = vae.VAE(vae.VAEConfig(input_shape=(1, 28, 28), latent_dim=2, arch="conv", hidden_dims=(8, 16), n_classes=10))
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.mul_(3.0)
    spec = decoder_spec(model, label=6)
    codes = torch.randn(4, 2, generator=torch.Generator().manual_seed(1))
    got = _run_node(spec, codes.numpy(), tmp_path, labels=[*range(10), None])  # (11, 4, 784)
    for y in range(10):
        expected = model.generate(codes, torch.full((4,), y)).detach().numpy().reshape(4, -1)
        assert np.abs(got[y] - expected).max() <= 1e-4, y
        np.testing.assert_allclose(decode_with_spec(spec, codes, label=y).reshape(4, -1), expected, atol=1e-5)
    np.testing.assert_allclose(got[10], got[6], atol=0)  # no label: the spec's own (6)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_a_version_1_spec_without_layer_types_still_decodes(tmp_path):
    model = _model(2)
    spec = decoder_spec(model)
    for layer in spec["layers"]:
        del layer["type"]  # what the browser held before conv decoders (a tab open across an upgrade)
    codes = np.array([[0.5, -1.0], [2.0, 0.0]], dtype=np.float32)
    expected = model.generate(torch.from_numpy(codes)).detach().numpy().reshape(2, -1)
    assert np.abs(_run_node(spec, codes, tmp_path) - expected).max() <= 1e-4
    np.testing.assert_allclose(decode_with_spec(spec, codes).reshape(2, -1), expected, atol=1e-5)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
@pytest.mark.parametrize("name", ["mnist-conv-z2", "mnist-conv-z16"])
def test_the_shipped_conv_models_decode_in_node_as_in_torch_and_float16_would_not(name, tmp_path):
    """Parity on the trained weights, and why the spec carries float32: float16 weights miss 1e-4."""
    path = require_shipped_model(MODELS / name)
    model, _ = vae.load_model(path)
    d = model.config.latent_dim
    codes = (torch.randn(50, d, generator=torch.Generator().manual_seed(4)) * 1.5).float()
    expected = model.generate(codes).detach().numpy().reshape(50, -1)
    got = _run_node(decoder_spec(model), codes.numpy(), tmp_path)
    assert np.abs(got - expected).max() <= 1e-4
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.copy_(p.half().float())  # what float16 weights in the payload would decode
    rounded = model.generate(codes).detach().numpy().reshape(50, -1)
    assert np.abs(rounded - expected).max() > 1e-4


def test_points_payload_carries_the_chosen_dims():
    mu = np.arange(12, dtype=np.float32).reshape(4, 3)
    p = points_payload(mu, np.array([3, 1, 4, 1]), dims=(2, 0))
    assert p["n"] == 4 and p["labels"] == [3, 1, 4, 1]
    np.testing.assert_array_equal(decode_f32(p["xy"], (4, 2)), mu[:, [2, 0]])
    json.dumps(p)


def test_model_zip_round_trips_through_load_model(tmp_path):
    model = _model(2)
    cfg = model.config
    path = vae.save_model(model, tmp_path / "tiny", vae.ModelCard.new(cfg, "digits"))
    data = model_zip(path)
    assert data == model_zip(path)  # deterministic bytes
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["tiny/card.json", "tiny/model.safetensors"]
        zf.extractall(tmp_path / "unzipped")
    loaded, card = vae.load_model(tmp_path / "unzipped" / "tiny")
    assert card.dataset == "digits"
    z = torch.randn(3, 2)
    torch.testing.assert_close(loaded.generate(z), model.generate(z))
    with pytest.raises(vae.CheckpointError):
        model_zip(tmp_path / "missing")


def test_nearest_cell_follows_the_manifold_layout():
    n = 5
    values = grid_values(n)
    codes = manifold_codes(2, n=n)
    for idx in (0, 3, 7, 12, 24):
        row, col = divmod(idx, n)
        assert nearest_cell(values, (float(codes[idx, 0]), float(codes[idx, 1]))) == (row, col)
    assert nearest_cell(values, (-10.0, 10.0)) == (0, 0)  # top-left: lowest x, highest y


def test_mark_cell_boxes_only_the_padding_around_one_cell():
    images = torch.full((9, 1, 4, 4), 0.5)
    grid = tile(images, nrow=3, pad=2, pad_value=0)
    marked = mark_cell(grid, 1, 2, cell=4, pad=2)
    assert marked.shape == (*grid.shape, 3) and marked.dtype == np.uint8
    red = (marked == np.array([230, 40, 40], dtype=np.uint8)).all(axis=2)
    top, left = 1 * 6, 2 * 6
    assert red[top, left:left + 8].all() and red[top + 7, left:left + 8].all()
    assert red[top:top + 8, left].all() and red[top:top + 8, left + 7].all()
    assert not red[top + 2:top + 6, left + 2:left + 6].any()  # the image itself stays visible
    assert red.sum() == 8 * 8 - 4 * 4
    scaled = mark_cell(np.kron(grid, np.ones((3, 3), dtype=np.uint8)), 0, 0, cell=4, pad=2, scale=3)
    assert (scaled[0:6, 0:24] == [230, 40, 40]).all() and not (scaled[6:18, 6:18] == [230, 40, 40]).all(axis=2).any()
    thick = (mark_cell(grid, 1, 2, cell=4, pad=2, inset=1) == [230, 40, 40]).all(axis=2)
    assert thick.sum() == 8 * 8 - 2 * 2 and not thick[top + 3:top + 5, left + 3:left + 5].any()


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_a_conditional_spec_decodes_every_label_in_node_as_torch_does(tmp_path):
    torch.manual_seed(0)
    model = vae.VAE(vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(16,), n_classes=10))
    spec = decoder_spec(model, label=3)
    codes = torch.randn(4, 2, generator=torch.Generator().manual_seed(1))
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    script = f"""
        const fs = require("fs");
        const {{ decodeSpec, forward }} = require({json.dumps(str(DECODER_MATH_JS))});
        const dec = decodeSpec(JSON.parse(fs.readFileSync({json.dumps(str(tmp_path / "spec.json"))}, "utf8")));
        const codes = {json.dumps(codes.tolist())};
        const out = [];
        for (let y = 0; y < 10; y++) out.push(codes.map((z) => Array.from(forward(dec, z, y))));
        out.push(codes.map((z) => Array.from(forward(dec, z))));
        process.stdout.write(JSON.stringify(out));
    """
    got = np.array(json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60,
                                             check=True).stdout))  # (11, 4, 64)
    for y in range(10):
        expected = model.generate(codes, torch.full((4,), y)).detach().numpy().reshape(4, -1)
        assert np.abs(got[y] - expected).max() <= 1e-4, y
        np.testing.assert_allclose(decode_with_spec(spec, codes, label=y).reshape(4, -1), expected, atol=1e-5)
    np.testing.assert_allclose(got[10], got[3], atol=0)  # no label: the spec's own (3)
