"""The Decoder's latent axes (explorer.decoder_axes) and the pad's draw order (explorer.browser_decoder).

Names are 1-based (z₁, z₂, … as in the rest of the app); the sliders' and the pad's reach comes from
the model's test codes (checked on the shipped mixture-prior and Gaussian-decoder models, whose
codes reach far beyond ±3); inactive dimensions come from the card's KL per dimension (mnist-z16);
the pad draws the test codes in an order that spreads every class from the first dot to the last.
"""

from pathlib import Path

import numpy as np
import pytest

import vae
from explorer.browser_decoder import decode_f32, draw_order, points_payload
from explorer.decoder_axes import (INACTIVE_KL, MIN_REACH, LatentAxes, dim_name, inactive_dims, nice_ceil,
                                   reach_per_dim, tick_step)
from tests.data_root import held_out_split, require_shipped_model

MODELS = Path(__file__).resolve().parent.parent / "models"


def shipped_codes(name: str) -> tuple[vae.VAE, vae.ModelCard, np.ndarray]:
    """A shipped model, its card and its posterior means of the full test split (N, D)."""
    model, card = vae.load_model(require_shipped_model(MODELS / name), device="cpu")
    split = held_out_split(card.dataset)
    return model, card, vae.encode_dataset(model, split.x, split.y).mu.numpy()


# --- names ---------------------------------------------------------------------------------------------

def test_dimensions_are_named_from_one_as_in_the_rest_of_the_app():
    assert [dim_name(k) for k in range(3)] == ["z₁", "z₂", "z₃"]
    assert dim_name(9) == "z₁₀" and dim_name(15) == "z₁₆"
    axes = LatentAxes.of(16, kl_per_dim=[1.0] * 16)
    assert axes.payload()["names"][:2] == ["z₁", "z₂"] and axes.label(12) == "z₁₃"


# --- reach -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("x, nice", [(0.2, 0.5), (2.9, 3.0), (3.0, 3.0), (3.14, 3.5), (4.51, 5.0), (5.2, 6.0),
                                     (7.74, 8.0), (9.99, 10.0), (10.2, 15.0), (31.8, 35.0)])
def test_nice_ceil_rounds_up_to_halves_then_wholes_then_fives(x, nice):
    assert nice_ceil(x) == nice


def test_the_reach_covers_99_percent_of_each_dimension_and_never_less_than_three():
    rng = np.random.default_rng(0)
    mu = np.stack([rng.normal(0, 0.5, 5000), rng.normal(0, 3.0, 5000), rng.normal(4, 1.0, 5000)], axis=1)
    reach = reach_per_dim(mu, 3)
    assert reach[0] == MIN_REACH  # a narrow dimension keeps the prior's ±3
    for k in (1, 2):
        assert reach[k] > MIN_REACH and (np.abs(mu[:, k]) <= reach[k]).mean() >= 0.99
        assert reach[k] == nice_ceil(np.percentile(np.abs(mu[:, k]), 99))
    assert reach_per_dim(None, 4) == (MIN_REACH,) * 4  # no test images on this machine
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        reach_per_dim(mu, 2)


def test_the_pad_s_two_dimensions_share_one_reach_that_holds_99_percent_of_the_codes_on_the_plane():
    rng = np.random.default_rng(1)
    mu = rng.normal(0, 2.5, (20000, 2))  # each alone: p99 of |mu| about 6.4; both at once need more
    per_dim = LatentAxes.of(2, mu)
    plane = LatentAxes.of(2, mu, pad_dims=(0, 1))
    assert plane.reach[0] == plane.reach[1] >= max(per_dim.reach)
    assert (np.abs(mu) <= plane.reach[0]).all(axis=1).mean() >= 0.99
    assert plane.pad_extent() == pytest.approx(plane.reach[0] * 7 / 6, abs=1e-3)  # the marker never sits on the edge


@pytest.mark.parametrize("name, beyond_3", [("mnist-mog-z2", 0.2), ("mnist-z2-gaussian", 0.15)])
def test_on_the_shipped_far_reaching_models_99_percent_of_the_test_codes_fall_inside(name, beyond_3):
    model, card, mu = shipped_codes(name)
    assert (np.abs(mu) > 3).any(axis=1).mean() > beyond_3  # the old fixed ±3 left these out
    axes = LatentAxes.of(2, mu, card.metrics.kl_per_dim, model.config.variational, pad_dims=(0, 1))
    inside = (np.abs(mu) <= np.array(axes.reach)).all(axis=1).mean()
    assert inside >= 0.99, (axes.reach, inside)
    assert axes.reach[0] <= 10  # ... and no wider than it needs: a rounded 99th percentile
    assert axes.pad_extent() > axes.reach[0] and axes.inactive == frozenset()
    assert axes.reach_text().startswith(f"The sliders reach ±{axes.reach[0]:g}: at least 99 %")


def test_pad_grid_lines_fall_on_round_numbers_at_most_five_a_side():
    assert tick_step(3) == 1 and tick_step(5) == 1 and tick_step(9) == 2 and tick_step(35) == 10
    assert LatentAxes((3.0, 3.0), pad_dims=(0, 1)).pad_ticks() == [-3, -2, -1, 0, 1, 2, 3]
    assert LatentAxes((9.0, 9.0), pad_dims=(0, 1)).pad_ticks() == [-8, -6, -4, -2, 0, 2, 4, 6, 8]
    assert LatentAxes((3.0, 3.0)).reach_text().endswith("cannot be sized to the codes.")  # no test codes


# --- inactive dimensions -----------------------------------------------------------------------------------

def test_mnist_z16_marks_the_dimensions_whose_kl_is_about_zero():
    _, card = vae.load_model(require_shipped_model(MODELS / "mnist-z16"), device="cpu")
    kl = np.array(card.metrics.kl_per_dim)
    axes = LatentAxes.of(16, kl_per_dim=card.metrics.kl_per_dim)
    assert axes.inactive == frozenset(np.flatnonzero(kl < INACTIVE_KL).tolist()) == {2, 9, 13, 14, 15}
    assert 16 - len(axes.inactive) == card.metrics.active_units  # agrees with the card's active-unit count
    assert axes.label(2) == "z₃ · inactive" and axes.label(0) == "z₁"
    assert "inactive" in axes.help(2) and "KL" in axes.help(2) and axes.help(0) is None
    payload = axes.payload()
    assert [k for k, off in enumerate(payload["inactive"]) if off] == [2, 9, 13, 14, 15]
    assert payload["help"][9] and not payload["help"][1]


def test_a_plain_autoencoder_or_a_card_without_kl_marks_nothing_inactive():
    assert inactive_dims([0.0, 0.0], variational=False) == frozenset()  # no KL term: zeros mean nothing
    assert inactive_dims([]) == frozenset()
    assert LatentAxes.of(3, kl_per_dim=[0.0, 0.0]).inactive == frozenset()  # metrics of another latent size
    assert inactive_dims([1.2, 0.004, 0.02]) == {1}


# --- the pad's draw order ----------------------------------------------------------------------------------

def every_class(labels: np.ndarray) -> set[int]:
    return set(np.unique(labels).tolist())


@pytest.mark.parametrize("sizes", [[1000] * 10, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009], [36] * 10,
                                   [25, 300, 40, 30, 500, 60, 33, 25, 200, 90]])
def test_the_last_tenth_drawn_holds_every_class_even_for_a_test_set_sorted_by_class(sizes):
    labels = np.repeat(np.arange(10), sizes)  # sorted: drawn as is, the 9s would cover everything
    order = draw_order(labels, seed=0)
    assert sorted(order.tolist()) == list(range(len(labels)))  # a permutation: every point drawn once
    n = len(order)
    for tenth in np.array_split(order, 10):  # every tenth of the order, the last one included
        assert every_class(labels[tenth]) == set(range(10))
    last = labels[order[-n // 10:]]
    shares = np.bincount(last, minlength=10) / len(last)
    np.testing.assert_allclose(shares, np.array(sizes) / n, atol=0.02)  # each class in proportion
    np.testing.assert_array_equal(order, draw_order(labels, seed=0))  # seeded
    assert not np.array_equal(order, draw_order(labels, seed=1))


def test_the_pad_payload_is_drawn_in_that_order_with_codes_and_labels_kept_together():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 50)
    mu = np.column_stack([labels + 0.1 * rng.random(500), -labels.astype(float), rng.random(500)]).astype(np.float32)
    p = points_payload(mu, labels, seed=0)
    xy, sent = decode_f32(p["xy"], (500, 2)), np.array(p["labels"])
    np.testing.assert_array_equal(sent, labels[draw_order(labels, 0)])
    np.testing.assert_array_equal(np.floor(xy[:, 0]), sent)  # each code still carries its own label
    np.testing.assert_array_equal(xy[:, 1], -sent)
    assert every_class(sent[-50:]) == set(range(10))
    assert points_payload(mu, labels)["labels"] == labels.tolist()  # no seed: the data's own order


def test_on_the_mnist_test_set_the_last_tenth_drawn_holds_every_digit():
    labels = held_out_split("mnist").y.numpy()
    order = draw_order(labels, seed=0)
    last = labels[order[-len(labels) // 10:]]
    assert np.bincount(last, minlength=10).min() >= 80  # about 100 of each digit among the last 1,000
