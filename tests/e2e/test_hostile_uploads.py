"""Hostile and broken uploads on the Reconstructions page, through a real browser.

Every file is made here (PIL, NumPy, a hand-built PNG for the 20,000 x 20,000 image). Each bad
file gets its own specific message next to its name (never an exception box), images in unusual
modes reconstruct like a plain PNG of the same digit, and after all of it the session and a
second, independent session still reconstruct a good digit. One server (conftest's `app_server`)
serves the whole module; several files go up in one upload wherever each still gets its own
checked message.
"""

from __future__ import annotations

import io
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import vae

MAIN = "[data-testid='stMain']"
EXCEPTION = "[data-testid='stException']"


# --- the files ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digit() -> np.ndarray:
    """A real MNIST test digit (a 2), as dark ink on white paper: (200, 200) uint8."""
    test = vae.load_dataset("mnist-sample", "test")
    x = test.x[int((test.y == 2).nonzero()[0]), 0].numpy()
    return np.asarray(Image.fromarray(((1 - x) * 255).astype(np.uint8)).resize((200, 200), Image.Resampling.BICUBIC))


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def upload(name: str, data: bytes, mime: str = "image/png") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


def bilevel_png(width: int, height: int) -> bytes:
    """A genuine 1-bit PNG of width x height, white with a black bar in the middle, built row by row.

    A 20,000 x 20,000 picture compresses to about 100 kB this way, with no 400-megapixel array
    ever held in memory here.
    """
    white = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte 0, then 8 pixels per byte (1 = white)
    bar = bytearray(white)
    mid, half = width // 16, max(1, width // 1600)  # a black bar 2 * half bytes (16 * half pixels) wide
    bar[1 + mid - half: 1 + mid + half] = bytes(2 * half)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(bytes(bar) if height // 4 < y < 3 * height // 4 else white) for y in range(height)) + z.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_the_hand_built_png_is_a_real_image():
    """The builder's output decodes (checked small); the big one is what its header says."""
    small = Image.open(io.BytesIO(bilevel_png(400, 300)))
    small.load()
    arr = np.asarray(small.convert("L"))
    assert small.size == (400, 300) and arr[150, 200] == 0 and arr[10, 10] == 255
    big = bilevel_png(20_000, 20_000)
    assert struct.unpack(">II", big[16:24]) == (20_000, 20_000) and big[24] == 1  # IHDR: size, 1 bit per pixel
    assert len(big) < 1_000_000


# --- page helpers ---------------------------------------------------------------------------------------

def open_upload_tab(page, url: str) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.get_by_text("This model:").first.wait_for()
    page.get_by_role("link", name="Reconstructions", exact=True).click()
    page.get_by_role("tab", name="Upload your digits").click()
    return errors


def wait_idle(page) -> None:
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)


def send(page, files: list[dict], *, expect: list[str]) -> None:
    """Upload `files` through the page's file input; wait until each name in `expect` has its result
    or its error on the page (the uploader lists a name at once: that is not enough), then for the run to end."""
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(files)
    page.wait_for_function(
        """names => { const texts = [...document.querySelectorAll("[data-testid='stMain'] [data-testid='stMarkdownContainer']")]
                          .map(e => e.innerText.trim());
                      return names.every(n => texts.some(t => t.startsWith(n + ":") || t.startsWith(n + "\\n"))); }""",
        arg=expect, timeout=120_000)
    wait_idle(page)


def error_for(page, name: str) -> str:
    """The text of the error shown for the file `name` (exactly one)."""
    box = page.locator("[data-testid='stAlertContentError']").filter(has_text=name)
    assert box.count() == 1, f"{name}: {box.count()} error boxes"
    return box.inner_text()


def result_for(page, name: str) -> dict:
    """The code and score shown for a reconstructed upload: {'mu': [...], 'neg_elbo': float}."""
    card = page.locator("[data-testid='stMarkdownContainer']").filter(has_text=re.compile(rf"^{re.escape(name)}\s+μ ="))
    assert card.count() == 1, f"{name}: {card.count()} results"
    text = card.inner_text()
    mu = re.search(r"μ = \(([^)]*)\)", text)
    elbo = re.search(r"−ELBO\s+([\d.]+)", text)
    assert mu and elbo, f"{name}: no reconstruction shown in {text!r}"
    return {"mu": [float(v) for v in mu.group(1).replace("…", "").split(",")], "neg_elbo": float(elbo.group(1))}


def assert_no_exception(page, errors: list[str]) -> None:
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
    assert "Traceback" not in page.locator(MAIN).inner_text()
    assert not errors, errors


# --- the tests ------------------------------------------------------------------------------------------

def test_broken_files_each_say_what_is_wrong_and_the_app_keeps_working(page, new_page, app_server, digit):
    errors = open_upload_tab(page, app_server.url)
    good = encode(Image.fromarray(digit))
    send(page, [
        upload("notes.png", b"Shopping list: eggs, milk, a 7.\n"),
        upload("empty.png", b""),
        upload("truncated.png", good[: len(good) // 2]),
        upload("giant.png", bilevel_png(20_000, 20_000)),
        upload("blank.png", encode(Image.new("RGB", (640, 480), "white"))),
        upload("grey-card.jpg", encode(Image.new("RGB", (640, 480), (200, 200, 200)), "JPEG"), "image/jpeg"),
    ], expect=["notes.png", "empty.png", "truncated.png", "giant.png", "blank.png", "grey-card.jpg"])
    assert "not an image" in error_for(page, "notes.png")
    assert "the file is empty" in error_for(page, "empty.png")
    assert "truncated or corrupted" in error_for(page, "truncated.png")
    assert "400,000,000 pixels; the limit is 40,000,000" in error_for(page, "giant.png")
    assert "no ink found: the image looks blank" in error_for(page, "blank.png")
    assert "no ink found" in error_for(page, "grey-card.jpg")
    assert_no_exception(page, errors)

    # The same session still works: a good digit uploaded next reconstructs.
    send(page, [upload("after.png", good)], expect=["after.png"])
    assert result_for(page, "after.png")["neg_elbo"] > 0
    assert_no_exception(page, errors)
    # ... and so does another session, on its own.
    other = new_page()
    other_errors = open_upload_tab(other, app_server.url)
    send(other, [upload("someone-else.png", good)], expect=["someone-else.png"])
    assert result_for(other, "someone-else.png")["mu"] == result_for(page, "after.png")["mu"]
    assert other.locator("[data-testid='stAlertContentError']").count() == 0  # the first session's errors stay there
    assert_no_exception(other, other_errors)


def test_unusual_image_modes_reconstruct_like_a_plain_png(page, app_server, digit):
    errors = open_upload_tab(page, app_server.url)
    grey = Image.fromarray(digit)
    rgba = np.zeros((*digit.shape, 4), np.uint8)
    rgba[..., 3] = 255 - digit  # black ink whose darkness is all in the alpha channel, on a transparent page
    other_digit = Image.fromarray(255 - digit.T)  # a different picture for the GIF's second frame
    gif = encode(grey.convert("P"), "GIF", save_all=True, append_images=[other_digit.convert("P")], duration=200, loop=0)
    files = {
        "plain.png": upload("plain.png", encode(grey)),
        "sixteen-bit.png": upload("sixteen-bit.png", encode(Image.fromarray(digit.astype(np.uint16) * 257))),
        "cmyk.jpg": upload("cmyk.jpg", encode(grey.convert("RGB").convert("CMYK"), "JPEG", quality=95), "image/jpeg"),
        "palette.png": upload("palette.png", encode(grey.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE))),
        "rgba.png": upload("rgba.png", encode(Image.fromarray(rgba, "RGBA"))),
        "animated.gif": upload("animated.gif", gif, "image/gif"),
    }
    # The files really are in those modes.
    modes = {n: Image.open(io.BytesIO(f["buffer"])).mode for n, f in files.items()}
    assert modes == {"plain.png": "L", "sixteen-bit.png": "I;16", "cmyk.jpg": "CMYK", "palette.png": "P",
                     "rgba.png": "RGBA", "animated.gif": modes["animated.gif"]} and modes["animated.gif"] in ("P", "L")
    assert Image.open(io.BytesIO(gif)).n_frames == 2
    send(page, list(files.values()), expect=list(files))
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    ref = np.array(result_for(page, "plain.png")["mu"])
    for name in files:
        mu = np.array(result_for(page, name)["mu"])
        # The same digit gives (nearly) the same code whatever the file's mode; the GIF uses its first frame.
        assert np.abs(mu - ref).max() < 0.15, f"{name}: μ {mu} vs {ref}"
    assert_no_exception(page, errors)


def test_files_the_uploader_refuses_say_why_and_the_page_goes_on(page, app_server, digit):
    errors = open_upload_tab(page, app_server.url)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><path d="M9 4h10L12 24" stroke="black"/></svg>'
    too_big = np.random.default_rng(0).integers(0, 256, 21 * 1024 * 1024, dtype=np.uint8).tobytes()  # 21 MB > 20 MB
    send(page, [upload("seven.svg", svg, "image/svg+xml"), upload("photo-21mb.png", too_big),
                upload("readme.txt", b"hello", "text/plain"), upload("ok.png", encode(Image.fromarray(digit)))],
         expect=["seven.svg", "ok.png"])  # the other two never reach the server
    main = page.locator(MAIN).inner_text()
    assert "SVG is a vector drawing" in error_for(page, "seven.svg")
    assert re.search(r"File must be 20(\.0)?\s?MB or smaller", main), main
    assert "text/plain files are not allowed" in main
    assert result_for(page, "ok.png")["neg_elbo"] > 0
    assert_no_exception(page, errors)


def test_a_hostile_file_name_is_only_text(page, app_server, digit):
    """File names go into the page's markdown: HTML and javascript: links in them must not run."""
    errors = open_upload_tab(page, app_server.url)
    good = encode(Image.fromarray(digit))
    names = ['<img src=x onerror="window.__pwned=1">.png', "[click me](javascript:window.__pwned=2).png",
             "<script>window.__pwned=3</script>.png"]
    send(page, [upload(n, good) for n in names] + [upload("last.png", good)], expect=["last.png"])
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("[data-testid='stMain'] a[href^='javascript']").count() == 0
    assert page.locator("[data-testid='stMain'] img[src='x']").count() == 0
    assert page.locator(MAIN).inner_text().count("μ = (") == len(names) + 1  # each still reconstructed
    assert_no_exception(page, errors)


def test_fifty_files_at_once(page, app_server, digit):
    errors = open_upload_tab(page, app_server.url)
    shifts = range(50)
    files = [upload(f"digit-{i:02d}.png", encode(Image.fromarray(np.roll(digit, (i % 7 - 3) * 4, axis=1)))) for i in shifts]
    send(page, files, expect=[f["name"] for f in files])
    shown = page.locator(MAIN).inner_text()
    assert shown.count("μ = (") == 50, shown.count("μ = (")
    for i in (0, 25, 49):
        assert result_for(page, f"digit-{i:02d}.png")["neg_elbo"] > 0
    assert_no_exception(page, errors)
