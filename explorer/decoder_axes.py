"""The Decoder's latent axes: their names, how far the sliders and the pad reach, which are inactive.

Names are 1-based, z₁, z₂, …, as everywhere else in the app (the code's index k is dimension
k + 1). The reach is sized from the model's own test codes: a fixed ±3 leaves out many codes of a
mixture-prior or Gaussian-decoder model, whose codes spread far from the origin. A dimension is inactive when
its KL to the prior is about 0 (`metrics.kl_per_dim` of the model card, under the 0.01 threshold
`explorer.rate_distortion.latent_usage` uses): the encoder ignores it, so the decoder has learnt
to ignore it too (posterior collapse). Nothing here needs Streamlit or a model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .i18n import _

MIN_REACH = 3.0  # never less than ±3: the prior's own range
REACH_PERCENTILE = 99.0  # of |mu| of the test codes, per dimension
INACTIVE_KL = 0.01  # nats: KL(q(z_d|x) || p(z_d)) below this, the dimension carries no information
PAD_MARGIN = 7 / 6  # the pad shows a little beyond the reach (±3.5 for ±3), so the marker never sits on the edge
_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def dim_name(k: int) -> str:
    """The name of the code's dimension k (0-based index): "z₁" for k = 0."""
    return "z" + str(k + 1).translate(_SUBSCRIPTS)


def nice_ceil(x: float) -> float:
    """x rounded up to a number that reads well on an axis: halves up to 5, whole numbers up to 10, then fives."""
    step = 0.5 if x <= 5 else 1.0 if x <= 10 else 5.0
    return math.ceil(round(x / step, 9)) * step


def reach_of(abs_mu: np.ndarray) -> float:
    """The REACH_PERCENTILE-th percentile of |mu| values (N,), rounded up to a nice number, at least MIN_REACH."""
    return max(MIN_REACH, nice_ceil(float(np.percentile(abs_mu, REACH_PERCENTILE))))


def reach_per_dim(mu: np.ndarray | None, latent_dim: int, pad_dims: tuple[int, int] | None = None
                  ) -> tuple[float, ...]:
    """± the range of each dimension's slider, from the test codes mu (N, D): `reach_of` |mu| of
    that dimension; MIN_REACH for all without test codes.

    pad_dims: two dimensions drawn as a square plane share one reach, `reach_of` max(|mu_a|, |mu_b|),
    so that 99 % of the codes (both coordinates at once, not each on its own) fall inside the pad.
    """
    if mu is None or len(mu) == 0:
        return (MIN_REACH,) * latent_dim
    mu = np.asarray(mu, dtype=np.float64)
    if mu.ndim != 2 or mu.shape[1] != latent_dim:
        raise ValueError(f"test codes must be (N, {latent_dim}), got {mu.shape}")
    reach = [reach_of(np.abs(mu[:, k])) for k in range(latent_dim)]
    if pad_dims is not None:
        a, b = pad_dims
        reach[a] = reach[b] = max(reach[a], reach[b], reach_of(np.abs(mu[:, [a, b]]).max(axis=1)))
    return tuple(reach)


def inactive_dims(kl_per_dim: Sequence[float], variational: bool = True) -> frozenset[int]:
    """The dimensions whose KL is below INACTIVE_KL. A plain autoencoder has no KL (all zeros) and no
    collapse to measure, so none of its dimensions is called inactive; nor are any without metrics."""
    if not variational:
        return frozenset()
    return frozenset(k for k, kl in enumerate(kl_per_dim) if kl < INACTIVE_KL)


def tick_step(reach: float) -> float:
    """Spacing of the pad's grid lines: at most 5 on each side of 0."""
    return next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500) if reach / s <= 5 or s == 500)


@dataclass(frozen=True)
class LatentAxes:
    """Per dimension of a latent of size `len(reach)`: the slider's range ±reach[k], whether it is
    inactive; and for a 2-D pad over `pad_dims` its extent and grid lines (both pad dimensions
    share one reach, so the pad stays square: one unit is as long across as up)."""

    reach: tuple[float, ...]
    inactive: frozenset[int] = frozenset()
    pad_dims: tuple[int, int] | None = None
    from_codes: bool = False  # the reach was sized from test codes (else MIN_REACH: none on this machine)

    @classmethod
    def of(cls, latent_dim: int, test_mu: np.ndarray | None = None, kl_per_dim: Sequence[float] = (),
           variational: bool = True, pad_dims: tuple[int, int] | None = None) -> LatentAxes:
        """The axes of a model: test_mu its test codes (N, D) or None, kl_per_dim its card's
        `metrics.kl_per_dim` (ignored unless of length D), pad_dims the pad's two dimensions."""
        reach = reach_per_dim(test_mu, latent_dim, pad_dims)
        inactive = inactive_dims(kl_per_dim if len(kl_per_dim) == latent_dim else (), variational)
        return cls(reach, inactive, pad_dims, test_mu is not None and len(test_mu) > 0)

    def label(self, k: int) -> str:
        """A slider's label: "z₃", or "z₃ · inactive"."""
        return _("{name} · inactive").format(name=dim_name(k)) if k in self.inactive else dim_name(k)

    def help(self, k: int) -> str | None:
        """A slider's help text: why an inactive dimension barely changes the image."""
        if k not in self.inactive:
            return None
        return _("{name} is inactive: its KL to the prior is about 0 nats (under {threshold}). The encoder gives "
                 "every image the prior N(0, 1) on it, so it carries nothing about the image and the decoder has learnt "
                 "to ignore it: moving it barely changes the image.").format(name=dim_name(k), threshold=INACTIVE_KL)

    def reach_text(self) -> str:
        """One line on how far the sliders go, and why."""
        lo, hi = min(self.reach), max(self.reach)
        span = f"±{lo:g}" if lo == hi else _("±{lo:g} to ±{hi:g}").format(lo=lo, hi=hi)
        if not self.from_codes:
            return _("The sliders reach {span}; without the test images on this machine they cannot be sized to the "
                     "codes.").format(span=span)
        share = f"{REACH_PERCENTILE:g} %"  # a field: "% of" in a message reads to Babel as a %-placeholder ("% o")
        if self.pad_dims is not None:
            return _("The sliders reach {span}: at least {share} of the test codes lie within that on the "
                     "plane.").format(span=span, share=share)
        return _("The sliders reach {span}: at least {share} of the test codes lie within that on each "
                 "dimension.").format(span=span, share=share)

    def clip(self, k: int, value: float) -> float:
        return float(np.clip(value, -self.reach[k], self.reach[k]))

    def pad_reach(self) -> float:
        """The reach both pad dimensions share (MIN_REACH without a pad)."""
        return self.reach[self.pad_dims[0]] if self.pad_dims is not None else MIN_REACH

    def pad_extent(self) -> float:
        """The pad shows [-extent, extent] in both of its dimensions."""
        return round(self.pad_reach() * PAD_MARGIN, 4)

    def pad_ticks(self) -> list[float]:
        """Where the pad's grid lines and numbers go: multiples of `tick_step` within the reach."""
        step = tick_step(self.pad_reach())
        n = int(self.pad_reach() // step)
        return [float(i * step) for i in range(-n, n + 1)]

    def payload(self) -> dict[str, Any]:
        """What the live component needs: every dimension's name, range, whether it is inactive and why,
        and the pad's extent and grid lines."""
        d = len(self.reach)
        return {"names": [dim_name(k) for k in range(d)], "reach": list(self.reach),
                "inactive": [k in self.inactive for k in range(d)],
                "help": [self.help(k) or "" for k in range(d)],
                "pad_extent": self.pad_extent(), "pad_ticks": self.pad_ticks()}
