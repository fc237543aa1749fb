"""Faults a user meets in the browser: broken models in the models folder, two sessions training at once.

This module runs its own server (`serve_app`), whose user-models folder starts with one good
model and four broken ones: a corrupted weights file, a truncated card, a card from another
architecture and a card whose sizes do not match the weights. The picker must list each broken
model with its reason and leave it out of the choices, and the app must keep working. Then two
browser sessions train on `digits` at the same time into that folder; both finish, both models
appear in the picker, load and drive the pages.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from pathlib import Path

import pytest

import vae
from tests.e2e.conftest import serve_app

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "digits-z2"
SIDEBAR = "section[data-testid='stSidebar']"
PICKER = f"{SIDEBAR} [data-testid='stSelectbox'] input[role='combobox']"
EXCEPTION = "[data-testid='stException']"
BROKEN = {  # name -> what the picker must say about it
    "bad-weights": "model.safetensors is corrupted or truncated",
    "bad-card": "card.json is corrupted or truncated",
    "other-arch": "do not belong to a conv VAE",
    "wrong-shapes": "weight shapes do not match the card's config",
}


def _plant_models(folder: Path) -> None:
    """One good user model (a copy of the shipped digits-z2) and the four broken ones."""
    shutil.copytree(SHIPPED, folder / "my-good")
    for name in BROKEN:
        shutil.copytree(SHIPPED, folder / name)
    weights = folder / "bad-weights" / vae.checkpoint.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a copy cut short
    card = folder / "bad-card" / vae.checkpoint.CARD_FILE
    card.write_text(card.read_text()[:200])
    for name, config in (("other-arch", {"arch": "conv", "input_shape": [1, 28, 28], "hidden_dims": [32, 64]}),
                         ("wrong-shapes", {"latent_dim": 5})):
        path = folder / name / vae.checkpoint.CARD_FILE
        data = json.loads(path.read_text())
        data["config"].update(config)
        path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not (SHIPPED / vae.checkpoint.WEIGHTS_FILE).is_file():
        pytest.skip(f"{SHIPPED} is not trained yet")
    tmp = tmp_path_factory.mktemp("faults-server")
    models = tmp / "my-models"
    models.mkdir()
    _plant_models(models)
    with serve_app(tmp, env={"VAE_USER_MODELS_DIR": str(models)}) as s:
        yield s


def open_home(page, url: str) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.get_by_text("What is a VAE?").first.wait_for()
    page.locator(PICKER).wait_for()
    return errors


def wait_idle(page) -> None:
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)


def picker_options(page, search: str = "") -> list[str]:
    """The picker's options; `search` filters them first (the dropdown only renders the first few)."""
    page.locator(PICKER).click()
    if search:
        page.keyboard.type(search)
    page.get_by_role("option").first.wait_for(timeout=30_000)  # the list renders after the click
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return options


def pick(page, name: str) -> None:
    page.locator(PICKER).click()
    page.keyboard.type(name)  # the dropdown renders only the first few options: filter to this one
    page.get_by_role("option", name=f"{name} ·").first.click()
    page.wait_for_function(f"() => document.querySelector(\"{PICKER}\").value.startsWith({json.dumps(name)})")
    wait_idle(page)


def open_decoder(page) -> None:
    """The Decoder page draws the selected model's decoded image (its weights loaded and sent)."""
    page.get_by_role("link", name="Decoder", exact=True).click()
    image = page.locator("canvas[data-testid='vld-image']")
    image.wait_for(state="visible", timeout=90_000)
    page.wait_for_function("c => Number(c.getAttribute('data-frame')) > 0", arg=image.element_handle(), timeout=90_000)


def test_the_picker_lists_broken_models_with_their_reason_and_the_app_keeps_working(page, server):
    errors = open_home(page, server.url)
    sidebar = page.locator(SIDEBAR)
    sidebar.get_by_text("⚠ Broken models: 4").click()
    for name, reason in BROKEN.items():
        line = sidebar.locator("[data-testid='stCaptionContainer']").filter(has_text=f"{name} (")
        assert reason in line.inner_text(), (name, line.inner_text())
    options = picker_options(page)
    assert any(o.startswith("my-good · z=2") for o in options), options
    assert not any(o.startswith(tuple(BROKEN)) for o in options), options  # broken ones cannot be chosen

    pick(page, "my-good")
    open_decoder(page)
    page.get_by_role("link", name="Reconstructions", exact=True).click()
    page.get_by_text("−ELBO").first.wait_for(timeout=90_000)
    wait_idle(page)
    assert page.locator(EXCEPTION).count() == 0
    assert not errors, errors


def start_training(page, name: str, epochs: int) -> None:
    page.get_by_role("link", name="Train a model", exact=True).click()
    page.get_by_label("Model name", exact=True).fill(name)
    page.get_by_label("Epochs", exact=True).fill(str(epochs))
    page.get_by_role("button", name="Start training").click()


def test_two_sessions_training_at_once_both_finish_with_intact_models(new_page, server):
    # The first run would take minutes: the second, started once the first is under way, trains beside it
    # even on a busy machine where a training process takes seconds to start; then the first is stopped.
    epochs = {"alpha-run": 1000, "beta-run": 30}
    sessions = {name: new_page() for name in epochs}
    errors = {name: open_home(p, server.url) for name, p in sessions.items()}
    alpha, beta = sessions.values()
    start_training(alpha, "alpha-run", epochs["alpha-run"])
    under_way = re.compile(r"Epoch ([2-9]|\d\d+) of")
    alpha.get_by_text(under_way).first.wait_for(timeout=120_000)
    start_training(beta, "beta-run", epochs["beta-run"])
    done = beta.locator("[data-testid='stAlertContentSuccess']").filter(has_text="trained 30 epochs")
    done.wait_for(timeout=180_000)  # (a short run: its progress may never be drawn on a busy machine)
    assert "beta-run" in done.inner_text()
    assert alpha.get_by_role("button", name="Stop").is_visible()  # the first still training: both ran at once
    alpha.get_by_role("button", name="Stop").click()
    stopped = alpha.locator("[data-testid='stAlertContentWarning']").filter(has_text="alpha-run")
    stopped.wait_for(timeout=120_000)
    epochs["alpha-run"] = int(re.search(r"stopped after (\d+) of 1000 epochs", stopped.inner_text()).group(1))
    # The two runs overlapped in time: each started before the other was saved (cards: end time
    # to the second, and the run's duration).
    spans = {}
    for name in sessions:
        card = vae.load_card(server.user_models / name)
        end = datetime.fromisoformat(card.created_at).timestamp()
        spans[name] = (end - card.train_seconds, end)
    (a0, a1), (b0, b1) = spans.values()
    assert a0 < b1 + 1 and b0 < a1 + 1, spans

    for name in sessions:
        model, card = vae.load_model(server.user_models / name)
        assert card.status == ("stopped" if name == "alpha-run" else "complete") and card.name == name
        assert len(card.history) == epochs[name]
    assert sorted(p.name for p in server.user_models.iterdir() if p.name.endswith("-run")) == ["alpha-run", "beta-run"]
    assert not [p for p in server.user_models.iterdir() if p.name.startswith(".")]  # no temporaries left

    for name, p in sessions.items():
        other = "beta-run" if name == "alpha-run" else "alpha-run"
        # Each session selected its own model when it finished, and lists the other's at its next run.
        assert p.locator(PICKER).input_value().startswith(name)
        p.get_by_role("link", name="What is a VAE?", exact=True).click()
        p.get_by_text("This model:").first.wait_for(timeout=90_000)
        wait_idle(p)
        assert any(o.startswith(f"{other} · z=") for o in picker_options(p, other))
        pick(p, other)
        open_decoder(p)
        assert p.locator(EXCEPTION).count() == 0
        assert not errors[name], errors[name]
