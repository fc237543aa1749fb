"""Typed model cards: a corpus of bad cards is refused with a reason everywhere a card is read.

Each bad card sits beside good weights in a model folder; `list_models` must list it as broken
(never raise), `vae-explorer info` must print one line and exit 2, and the app's picker must
list it under "broken" while every page keeps working on the good models.
"""

import json
import math
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

import vae
from vae.cli import main

CFG = vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(16,))
APP = str(Path(__file__).resolve().parent.parent / "app.py")


def good_card() -> dict:
    metrics = vae.Metrics(neg_elbo=30.0, recon=27.0, kl=3.0, kl_per_dim=(1.0, 2.0), active_units=2, n_images=360)
    history = ({"epoch": 1, "train_loss": 40.0, "test_neg_elbo": 35.0}, {"epoch": 2, "train_loss": 33.0, "test_neg_elbo": 30.0})
    card = vae.ModelCard.new(CFG, "digits", train_config=vae.TrainConfig(epochs=2), history=history, metrics=metrics,
                             name="m", status="complete", n_train=1437, n_test=360)
    return card.to_dict()


def without(key):
    def change(card):
        del card[key]
    return change


def setting(*path, value):
    def change(card):
        target = card
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


# how to break a card -> words the reason must contain
BAD_CARDS = {
    "no config": (without("config"), "no 'config'"),
    "no dataset": (without("dataset"), "no 'dataset'"),
    "unknown dataset": (setting("dataset", value="cifar10"), "unknown dataset 'cifar10'"),
    "dataset not text": (setting("dataset", value=5), "dataset must be a name"),
    "old format": (setting("format_version", value=0), "card format 0 is not supported"),
    "latent size as text": (setting("config", "latent_dim", value="2"), "latent_dim must be an integer"),
    "unknown config field": (setting("config", "depth", value=3), "unknown VAEConfig field(s): depth"),
    "train_config of the wrong type": (setting("train_config", "epochs", value="ten"), "epochs must be an integer"),
    "NaN metric": (setting("metrics", "neg_elbo", value=math.nan), "metrics.neg_elbo must be a finite number"),
    "infinite KL per dimension": (setting("metrics", "kl_per_dim", value=[1.0, math.inf]), "kl_per_dim[] must be a finite"),
    "metrics without the KL": (lambda c: c["metrics"].pop("kl"), "metrics lack kl"),
    "history not a list": (setting("history", value={"epoch": 1}), "history must be a list"),
    "history row without epoch": (setting("history", value=[{"loss": 3.0}]), "history row 1 must be a JSON object"),
    "history out of order": (setting("history", value=[{"epoch": 2}]), "history row 1 says epoch 2"),
    "history with text": (setting("history", value=[{"epoch": 1, "train_loss": "low"}]), "train_loss must be a finite"),
    "status unknown": (setting("status", value="great"), "status must be one of"),
    "negative image count": (setting("n_test", value=-1), "n_test must be a whole number"),
    "no format version": (without("format_version"), "card format None is not supported"),
}


def write_model(folder: Path, card: dict | str, weights_config: vae.VAEConfig = CFG) -> Path:
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    state = {k: v.contiguous() for k, v in vae.VAE(weights_config).state_dict().items()}
    from safetensors.torch import save_file

    save_file(state, str(folder / "model.safetensors"))
    text = card if isinstance(card, str) else json.dumps(card, allow_nan=True)
    (folder / "card.json").write_text(text)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A folder holding one good model and every bad one; name -> words the reason must contain."""
    root = tmp_path_factory.mktemp("models")
    expected = {}
    write_model(root / "good", good_card())
    for i, (what, (change, reason)) in enumerate(BAD_CARDS.items()):
        card = good_card()
        change(card)
        write_model(root / f"bad-{i:02d}", card)
        expected[f"bad-{i:02d}"] = reason
    write_model(root / "truncated", json.dumps(good_card())[:200])
    expected["truncated"] = "corrupted or truncated"
    write_model(root / "a-list", "[1, 2]")
    expected["a-list"] = "a card must be a JSON object"
    write_model(root / "other-weights", good_card(), vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=3, hidden_dims=(16,)))
    expected["other-weights"] = "weight shapes do not match"
    return root, expected


def test_a_card_survives_the_round_trip_through_json():
    card = good_card()
    again = vae.ModelCard.from_dict(json.loads(json.dumps(card)))
    assert again.to_dict() == card
    assert again.metrics.kl_per_dim == (1.0, 2.0) and again.history[1]["epoch"] == 2 and again.beta == 1.0


def test_every_bad_card_is_listed_as_broken_with_its_reason(corpus):
    root, expected = corpus
    found = {path.name: (card, error) for path, card, error in vae.list_models(root)}
    assert found["good"][1] is None and found["good"][0].dataset == "digits"
    for name, reason in expected.items():
        card, error = found[name]
        assert card is None and reason in error, (name, error)


def test_info_refuses_a_bad_card_in_one_line(corpus, capsys):
    root, expected = corpus
    for name, reason in expected.items():
        assert main(["info", str(root / name)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and reason in err and "Traceback" not in err, (name, err)


def test_the_app_lists_bad_models_as_broken_and_keeps_working(corpus, monkeypatch):
    root, expected = corpus
    monkeypatch.setenv("VAE_USER_MODELS_DIR", str(root))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    options = at.sidebar.selectbox(key="model_picker").options
    assert any(o.startswith("good ·") for o in options)
    assert not any(o.startswith(("bad-", "truncated", "other-weights", "a-list")) for o in options)
    broken = " ".join(c.value for c in at.sidebar.caption)
    assert all(f"**{name}**" in broken for name in expected)
    at.sidebar.selectbox(key="model_picker").select(next(o for o in options if o.startswith("good ·"))).run()
    for page in ("pages/explore/reconstruct.py", "pages/explore/latent_map.py", "pages/explore/rate_distortion.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
