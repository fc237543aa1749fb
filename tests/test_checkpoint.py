"""Checkpoint I/O: round trips, atomic replacement, and the documented errors."""

import json
import os
import stat

import pytest
import torch
from safetensors.torch import save_file

from vae.card import Metrics, ModelCard
from vae.checkpoint import CARD_FILE, WEIGHTS_FILE, CheckpointError, check_weights, list_models, load_card, load_model, save_model, validate_name
from vae.config import TrainConfig, VAEConfig
from vae.model import VAE

CFG = VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(16,))


def _save(path, cfg=CFG, seed=0):
    torch.manual_seed(seed)
    model = VAE(cfg)
    save_model(model, path, ModelCard.new(cfg, "digits", train_config=TrainConfig(epochs=1), history=({"epoch": 1, "train_loss": 5.0},),
                                                   metrics=Metrics(neg_elbo=1.0, recon=0.75, kl=0.25)))
    return model


def test_round_trip_gives_identical_outputs(tmp_path):
    model = _save(tmp_path / "m")
    loaded, card = load_model(tmp_path / "m")
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(loaded(x, sample=False).x_hat, model(x, sample=False).x_hat, rtol=0, atol=0)
    assert card.dataset == "digits" and card.history == ({"epoch": 1, "train_loss": 5.0},)
    assert card.config == CFG
    assert not loaded.training


def test_save_replaces_existing_model_and_leaves_no_temporary_files(tmp_path):
    _save(tmp_path / "m", seed=0)
    new = _save(tmp_path / "m", seed=1)
    loaded, _ = load_model(tmp_path / "m")
    torch.testing.assert_close(loaded.decode(torch.zeros(1, 2)), new.decode(torch.zeros(1, 2)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_saved_model_has_the_permissions_of_any_file_its_owner_creates(umask, tmp_path):
    # Not the private ones of the temporary folder and file it was written in: another account (a
    # service running the app) must be able to read a model a lecturer trained, umask permitting.
    previous = os.umask(umask)
    try:
        path = save_model(VAE(CFG), tmp_path / "m", ModelCard.new(CFG, "digits"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o777 & ~umask
    for f in (WEIGHTS_FILE, CARD_FILE):
        assert stat.S_IMODE((path / f).stat().st_mode) == 0o666 & ~umask


def test_failed_save_keeps_the_old_model(tmp_path, monkeypatch):
    old = _save(tmp_path / "m", seed=0)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("vae.checkpoint.save_file", boom)
    with pytest.raises(OSError):
        _save(tmp_path / "m", seed=1)
    loaded, _ = load_model(tmp_path / "m")
    torch.testing.assert_close(loaded.decode(torch.zeros(1, 2)), old.decode(torch.zeros(1, 2)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_missing_files(tmp_path):
    with pytest.raises(CheckpointError, match="not a model directory"):
        load_model(tmp_path / "nope")
    _save(tmp_path / "m")
    (tmp_path / "m" / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / CARD_FILE).unlink()
    with pytest.raises(CheckpointError, match="card.json is missing"):
        load_model(tmp_path / "m")


def test_truncated_card_and_corrupted_weights(tmp_path):
    _save(tmp_path / "m")
    card = tmp_path / "m" / CARD_FILE
    card.write_text(card.read_text()[:50])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_model(tmp_path / "m")
    _save(tmp_path / "w")
    weights = tmp_path / "w" / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_model(tmp_path / "w")


def test_card_from_another_architecture_or_wrong_shapes(tmp_path):
    _save(tmp_path / "m")
    card_path = tmp_path / "m" / CARD_FILE
    card = json.loads(card_path.read_text())
    card["config"] = VAEConfig(input_shape=(1, 8, 8), latent_dim=2, arch="conv", hidden_dims=(4, 4)).to_dict()
    card_path.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="do not belong to a conv VAE"):
        load_model(tmp_path / "m")
    card["config"] = VAEConfig(input_shape=(1, 8, 8), latent_dim=5, hidden_dims=(16,)).to_dict()
    card_path.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="shapes do not match"):
        load_model(tmp_path / "m")
    card["config"] = {"latent_dim": -3}
    card_path.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="invalid card.json: latent_dim must be"):
        load_model(tmp_path / "m")


def test_non_finite_weights_are_refused(tmp_path):
    model = _save(tmp_path / "m")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    next(iter(state.values())).fill_(float("nan"))
    save_file(state, str(tmp_path / "m" / WEIGHTS_FILE))
    with pytest.raises(CheckpointError, match="NaN"):
        load_model(tmp_path / "m")


def test_pickled_weights_are_never_loaded(tmp_path):
    """A planted pickle (which could run code) is not a safetensors file and is refused."""
    _save(tmp_path / "m")

    class Evil:
        def __reduce__(self):
            return (exec, ("import pathlib; pathlib.Path(%r).write_text('pwned')" % str(tmp_path / "pwned"),))

    torch.save({"x": Evil()}, tmp_path / "m" / WEIGHTS_FILE)
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "m")
    assert not (tmp_path / "pwned").exists()


def test_list_models_reports_broken_ones_with_a_reason(tmp_path):
    _save(tmp_path / "good")
    (tmp_path / "broken").mkdir()
    (tmp_path / ".hidden").mkdir()
    found = {p.name: (card, err) for p, card, err in list_models(tmp_path, tmp_path / "absent")}
    assert set(found) == {"good", "broken"}
    assert found["good"][0].dataset == "digits" and found["good"][1] is None
    assert found["broken"][0] is None and "card.json is missing" in found["broken"][1]


def _break(path, how):
    """Damage the model at `path` the way a bad copy, a crash or a mix-up would."""
    card_path, weights = path / CARD_FILE, path / WEIGHTS_FILE
    card = json.loads(card_path.read_text())
    if how == "corrupted weights":
        data = bytearray(weights.read_bytes())
        data[:8] = b"\xff" * 8  # a garbled header length
        weights.write_bytes(bytes(data))
    elif how == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:-10])
    elif how == "truncated card":
        card_path.write_text(card_path.read_text()[:60])
    elif how == "another architecture":
        card["config"] = VAEConfig(input_shape=(1, 8, 8), latent_dim=2, arch="conv", hidden_dims=(4, 4)).to_dict()
        card_path.write_text(json.dumps(card))
    elif how == "wrong shapes":
        card["config"] = VAEConfig(input_shape=(1, 8, 8), latent_dim=3, hidden_dims=(16,)).to_dict()
        card_path.write_text(json.dumps(card))
    elif how == "pickle":
        torch.save({"w": torch.zeros(2)}, weights)
    elif how == "no weights":
        weights.unlink()


BROKEN = {
    "corrupted weights": "model.safetensors is corrupted or truncated",
    "truncated weights": "model.safetensors is corrupted or truncated",
    "truncated card": "card.json is corrupted or truncated",
    "another architecture": "do not belong to a conv VAE",
    "wrong shapes": "shapes do not match the card's config",
    "pickle": "model.safetensors is corrupted or truncated",
    "no weights": "model.safetensors is missing",
}


def test_list_models_names_every_kind_of_broken_model_without_loading_it(tmp_path):
    """The picker's list: each broken model with the same reason loading it would give."""
    _save(tmp_path / "good")
    for i, how in enumerate(BROKEN):
        _save(tmp_path / f"b{i}")
        _break(tmp_path / f"b{i}", how)
    found = {p.name: (card, err) for p, card, err in list_models(tmp_path)}
    assert found["good"][1] is None and found["good"][0].dataset == "digits"
    for i, (how, reason) in enumerate(BROKEN.items()):
        card, err = found[f"b{i}"]
        assert card is None and err.startswith(f"b{i}: ") and reason in err, (how, err)
        with pytest.raises(CheckpointError, match=reason):
            load_model(tmp_path / f"b{i}")


def test_check_weights_notices_a_replaced_file(tmp_path):
    """Its cache is per file version: a model fixed (or broken) after a first check is seen as it is now."""
    _save(tmp_path / "m")
    card = load_card(tmp_path / "m")
    check_weights(tmp_path / "m", card)
    _break(tmp_path / "m", "truncated weights")
    with pytest.raises(CheckpointError, match="truncated"):
        check_weights(tmp_path / "m", card)
    _save(tmp_path / "m")
    check_weights(tmp_path / "m", load_card(tmp_path / "m"))


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden", "", "x" * 65, "a\\b", "/abs", "trailing\n", "nul\0"])
def test_model_names_cannot_escape_the_models_directory(name):
    with pytest.raises(ValueError, match="invalid model name"):
        validate_name(name)


def test_valid_names_pass():
    assert validate_name("mnist-z2_v1.0") == "mnist-z2_v1.0"


def test_card_must_describe_the_model(tmp_path):
    other = VAEConfig(input_shape=(1, 8, 8), latent_dim=4, hidden_dims=(16,))
    with pytest.raises(ValueError, match="does not describe"):
        save_model(VAE(CFG), tmp_path / "m", ModelCard.new(other, "digits"))
