"""Drawing on the app's drawing pad (the streamlit-drawable-canvas component) with the mouse, as a student does."""

from __future__ import annotations

import time

# The pad's drawing canvas (in the component's shadow DOM, which Playwright's CSS locators enter);
# ':visible' skips a pad in a tab that is not shown.
CANVAS = "[class*='st-key-'][class*='canvas'] canvas:visible"


def settled_box(page, pad, timeout_s: float = 30.0) -> dict:
    """The pad's bounding box once it is in the viewport and has stopped moving.

    Mouse events go to viewport coordinates: a pad still below the fold, or pushed down by an element
    that finishes rendering above it between reading its box and drawing, would miss the stroke
    (a CI run once drew beside a pad and waited for a drawing that never came). Not Playwright's own
    actionability checks (hover): the pad is three stacked canvases, and the top one, which takes the
    events, covers the one CANVAS finds first, so hover's hit-target check times out (tried).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        pad.scroll_into_view_if_needed()
        box = pad.bounding_box()
        page.wait_for_timeout(300)
        if pad.bounding_box() == box:
            return box
        if time.monotonic() > deadline:
            raise AssertionError(f"the drawing pad kept moving for {timeout_s:.0f} s: {box}")


def draw_a_one(page, pad, size: int) -> None:
    """A vertical stroke down the middle of the pad `pad` (a locator of its canvas), `size` pixels square."""
    pad.wait_for(timeout=90_000)
    box = settled_box(page, pad)
    x, top = box["x"] + size // 2, box["y"] + size // 6
    page.mouse.move(x, top)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x, top + (size * 2 // 3) * i / 20, steps=2)
    page.mouse.up()
