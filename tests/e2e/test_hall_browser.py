"""A lecture hall: two app replicas behind HAProxy (tools/hall.py), sticky sessions, one shared models folder.

Each browser context is one student. HAProxy inserts a cookie naming the replica on the first
request, so the page, its websocket, uploads and /media/ images all reach the replica that holds
the session. Checked here through the proxy: students are spread over both replicas; a model
trained through one replica is in the other's picker; an upload is reconstructed and its images
load. Without HAProxy (Debian's haproxy) the tests skip, except in CI (`CI=true`), where they fail.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools.hall import COOKIE, HAPROXY, HAPROXY_MISSING, hall

PICKER = "section[data-testid='stSidebar'] .st-key-model_picker input[role='combobox']"
OUTCOME = "[data-testid='stAlertContentSuccess']"


@pytest.fixture(scope="module")
def lecture_hall(tmp_path_factory):
    if not Path(HAPROXY).exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(HAPROXY_MISSING)
        pytest.skip(HAPROXY_MISSING)
    with hall(tmp_path_factory.mktemp("hall"), replicas=2) as h:
        yield h


def replica(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == COOKIE)


def student_on(new_page, url: str, wanted: str):
    """A fresh student's page that HAProxy sent to replica `wanted` (round robin: within a few tries)."""
    for _ in range(6):
        page = new_page()
        page.goto(url)
        page.get_by_text("What is a VAE?").first.wait_for(timeout=120_000)
        if replica(page) == wanted:
            return page
    raise AssertionError(f"no student reached replica {wanted} in 6 tries")


def digit_png() -> bytes:
    """A hand-made '1': a thick light stroke on dark paper, as a PNG."""
    pixels = np.zeros((56, 56), np.uint8)
    pixels[8:48, 24:32] = 255
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def test_students_are_spread_over_the_replicas_and_each_page_works(new_page, lecture_hall):
    pages = [new_page() for _ in range(4)]
    for page in pages:
        page.goto(lecture_hall.url)
        page.get_by_text("What is a VAE?").first.wait_for(timeout=120_000)
    assert {replica(p) for p in pages} == {"r1", "r2"}
    for page in pages:  # the websocket went to the replica of the cookie: the session's widgets work
        page.get_by_role("link", name="Reconstructions", exact=True).click()
        page.get_by_role("button", name="Reshuffle").click()
        page.get_by_text("Seed 1 ·").first.wait_for(timeout=120_000)
        assert page.locator("[data-testid='stException']").count() == 0


def test_a_model_trained_through_one_replica_is_in_the_others_picker(new_page, lecture_hall):
    trainer = student_on(new_page, lecture_hall.url, "r1")
    trainer.get_by_role("link", name="Train a model", exact=True).click()
    trainer.get_by_label("Model name", exact=True).fill("hall-model")
    trainer.get_by_label("Epochs", exact=True).fill("2")
    trainer.get_by_role("button", name="Start training").click()
    trainer.locator(OUTCOME).filter(has_text="hall-model").first.wait_for(timeout=120_000)
    assert (lecture_hall.user_models / "hall-model" / "card.json").exists()

    other = student_on(new_page, lecture_hall.url, "r2")
    other.locator(PICKER).click()
    other.keyboard.type("hall-model")
    other.get_by_role("option", name="hall-model ·").first.click()
    other.wait_for_function(f"() => document.querySelector(\"{PICKER}\").value.startsWith('hall-model')")
    other.get_by_role("link", name="Reconstructions", exact=True).click()
    other.get_by_text("Seed 0 ·").first.wait_for(timeout=120_000)  # the page runs on the model from the other replica
    assert other.locator("[data-testid='stException']").count() == 0


def test_an_upload_through_the_proxy_is_reconstructed_and_its_images_load(new_page, lecture_hall):
    for wanted in ("r1", "r2"):
        page = student_on(new_page, lecture_hall.url, wanted)
        page.get_by_role("link", name="Reconstructions", exact=True).click()
        page.get_by_role("tab", name="Upload your digits").click()
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(
            [{"name": "my-one.png", "mimeType": "image/png", "buffer": digit_png()}])
        page.get_by_text("reconstruction", exact=True).first.wait_for(timeout=120_000)
        page.wait_for_function("""() => document.querySelector("[data-testid='stMain']").innerText.includes('μ = (')""",
                               timeout=120_000)
        # The pictures are fetched from /media/ of the session's replica: every one of them loads.
        page.wait_for_function("""() => { const imgs = [...document.querySelectorAll("[data-testid='stMain'] img")];
            return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }""", timeout=60_000)
        assert page.locator("[data-testid='stAlertContentError']").count() == 0
        assert page.locator("[data-testid='stException']").count() == 0
