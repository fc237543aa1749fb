"""Drawing on the app's drawing pad (the streamlit-drawable-canvas component) with the mouse, as a student does."""

from __future__ import annotations

# The pad's drawing canvas (in the component's shadow DOM, which Playwright's CSS locators enter);
# ':visible' skips a pad in a tab that is not shown.
CANVAS = "[class*='st-key-'][class*='canvas'] canvas:visible"


def draw_a_one(page, pad, size: int) -> None:
    """A vertical stroke down the middle of the pad `pad` (a locator of its canvas), `size` pixels square."""
    pad.wait_for(timeout=90_000)
    box = pad.bounding_box()
    x, top = box["x"] + size // 2, box["y"] + size // 6
    page.mouse.move(x, top)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x, top + (size * 2 // 3) * i / 20, steps=2)
    page.mouse.up()
