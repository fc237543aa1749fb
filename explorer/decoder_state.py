"""The Decoder page's state machine: the current code z, and a token that says "the page moved z".

z lives in two places: the page's session state and the live component in the browser, which
moves it on every drag and reports it back when the pointer lets go. Whenever the page itself
moves z (a reset, another start code, fewer sliders, another model) it also bumps the token, and
the browser jumps to the new z when it sees a new token. A report from the browser carries the
token it was drawn under, so a report that was in flight while the page moved z is dropped.

These functions take any mutable mapping (Streamlit's `session_state` is one), so the state
machine is tested without Streamlit. The keys, shared with the page's widgets:
  dec_z      the current code, a list of `latent_dim` floats
  dec_token  bumped whenever the page (not the browser) moves z
  dec_start  "Origin" or "A test image" (the segmented control)
  dec_pick   how many times "Another test image" was pressed: seeds which test image
  dec_dims   the dimensions with a slider (the multiselect, latent sizes above MAX_SLIDERS)
  dec_man_x, dec_man_y  the manifold's axes (selectboxes)
  dec_model  the model the state belongs to
  dec_live   the live component's own state; its "z" entry is the browser's report
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .i18n import N_

# The values kept in session state (the page shows them translated: `format_func=_`).
ORIGIN, TEST_IMAGE = N_("Origin"), N_("A test image")
START_OPTIONS = (ORIGIN, TEST_IMAGE)
LIVE_KEY = "dec_live"
MAX_SLIDERS = 8  # latent sizes above this choose which dimensions get a slider (at most 16)

State = MutableMapping[str, Any]


@dataclass(frozen=True)
class StartCodes:
    """Where a start code comes from: the origin of a `latent_dim` space, or a test image's code.

    test_mu: the test images' posterior means (N, latent_dim); None when the test set is not on
    this machine, and then every start is the origin.
    """

    latent_dim: int
    test_mu: np.ndarray | None = None

    def from_test(self, state: State) -> bool:
        """Does z start from a test image (chosen, and the test images are here)?"""
        return state.get("dec_start") == TEST_IMAGE and self.test_mu is not None

    def index(self, state: State) -> int:
        """The test image the start code comes from: a fixed draw per press of "Another test image"."""
        if self.test_mu is None:
            raise ValueError("no test images on this machine")
        return int(np.random.default_rng(state.get("dec_pick", 0)).integers(len(self.test_mu)))

    def code(self, state: State) -> list[float]:
        """The start code: the chosen test image's posterior mean, else the origin."""
        if self.from_test(state):
            return [float(v) for v in self.test_mu[self.index(state)]]
        return [0.0] * self.latent_dim


def reset(state: State, start: StartCodes) -> None:
    """z back to the start code; the browser follows."""
    state["dec_z"] = start.code(state)
    state["dec_token"] = state.get("dec_token", 0) + 1


def pick_another(state: State, start: StartCodes) -> None:
    """Start from the next test image."""
    state["dec_pick"] = state.get("dec_pick", 0) + 1
    reset(state, start)


def accept_report(state: State, start: StartCodes) -> bool:
    """Take the z the browser reports, if it was drawn under the current token and has the right length.

    A stale token means the page moved z after the browser drew it; a wrong length means a report
    about another model's space. Returns whether z was taken.
    """
    report = (state.get(LIVE_KEY) or {}).get("z")
    if not isinstance(report, dict) or report.get("token") != state.get("dec_token"):
        return False
    z = report.get("z")
    if not isinstance(z, (list, tuple)) or len(z) != start.latent_dim:
        return False
    state["dec_z"] = [float(v) for v in z]
    return True


def forget_manifold_axes(state: State) -> None:
    for key in ("dec_man_x", "dec_man_y"):
        state.pop(key, None)


def change_dims(state: State, start: StartCodes) -> None:
    """After the sliders' dimensions change: dimensions without a slider go back to the start code,
    and the manifold's axes follow the new sliders."""
    chosen, code = set(state.get("dec_dims") or []), start.code(state)
    state["dec_z"] = [v if k in chosen else code[k] for k, v in enumerate(state["dec_z"])]
    state["dec_token"] = state.get("dec_token", 0) + 1
    forget_manifold_axes(state)


def follow_model(state: State, model_key: Any, start: StartCodes) -> bool:
    """On the first run and after the model changes, start over from the origin; returns whether it did."""
    if state.get("dec_model") == model_key:
        return False
    state["dec_model"] = model_key
    state["dec_start"] = ORIGIN
    state.pop("dec_dims", None)
    forget_manifold_axes(state)
    reset(state, start)
    return True


def slider_dims(latent_dim: int, chosen: Sequence[int] | None = None) -> list[int]:
    """The dimensions that get a slider: all of a small latent, else the chosen ones (the first
    MAX_SLIDERS when none are chosen)."""
    if latent_dim <= MAX_SLIDERS:
        return list(range(latent_dim))
    return sorted(chosen or []) or list(range(MAX_SLIDERS))


def slider_key(state: State, dim: int) -> str:
    """A server-side slider's key: new with every token, so a moved z is not overridden by the
    slider's remembered value."""
    return f"dec_srv_{state['dec_token']}_{dim}"


def live_model_id(model_key: Any) -> str:
    """A short id the live component caches the model's weights under."""
    return hashlib.sha1(repr(model_key).encode()).hexdigest()[:12]
