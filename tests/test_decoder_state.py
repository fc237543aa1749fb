"""The Decoder page's logic without Streamlit: the z-state machine and the grids' codes and captions.

The state functions take a plain dict here, as the page passes them Streamlit's session_state.
"""

import numpy as np
import pytest
import torch

import vae
from explorer import decoder_grids, decoder_state
from explorer.decoder_state import LIVE_KEY, ORIGIN, TEST_IMAGE, StartCodes
from vae.latent import grid_values, interpolate, manifold_codes

MU = np.arange(40 * 3, dtype=np.float32).reshape(40, 3) / 10  # 40 test codes of a 3-D latent


def fresh(start: StartCodes, key=("model-a", 1.0)) -> dict:
    """The state after the page's first run on a model."""
    state: dict = {}
    assert decoder_state.follow_model(state, key, start)
    return state


def browser_report(state: dict, z, token=None) -> None:
    state[LIVE_KEY] = {"z": {"z": z, "token": state["dec_token"] if token is None else token}}


# --- start codes ---------------------------------------------------------------------------------------

def test_a_new_model_starts_at_the_origin_with_a_new_token():
    state = fresh(StartCodes(3, MU))
    assert state["dec_z"] == [0.0, 0.0, 0.0] and state["dec_start"] == ORIGIN
    assert state["dec_token"] == 1 and state["dec_model"] == ("model-a", 1.0)


def test_start_from_a_test_image_takes_its_code_and_another_press_takes_another():
    start = StartCodes(3, MU)
    state = fresh(start)
    state["dec_start"] = TEST_IMAGE
    decoder_state.reset(state, start)
    first = start.index(state)
    assert state["dec_z"] == pytest.approx(MU[first].tolist()) and state["dec_token"] == 2
    decoder_state.pick_another(state, start)
    assert state["dec_pick"] == 1 and state["dec_token"] == 3
    assert start.index(state) != first and state["dec_z"] == pytest.approx(MU[start.index(state)].tolist())
    assert start.index({"dec_pick": 1}) == start.index(state)  # a fixed draw per press: reproducible


def test_without_test_images_every_start_is_the_origin():
    start = StartCodes(3, None)
    state = fresh(start)
    state["dec_start"] = TEST_IMAGE
    assert not start.from_test(state)
    decoder_state.reset(state, start)
    assert state["dec_z"] == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="no test images"):
        start.index(state)


def test_reset_goes_back_to_the_start_code_after_the_user_moved_z():
    start = StartCodes(3, MU)
    state = fresh(start)
    state["dec_start"] = TEST_IMAGE
    decoder_state.pick_another(state, start)
    picked = list(state["dec_z"])
    state["dec_z"] = [3.0, -3.0, 0.5]  # a slider moved
    decoder_state.reset(state, start)
    assert state["dec_z"] == picked


# --- reports from the browser ------------------------------------------------------------------------

def test_a_report_under_the_current_token_moves_z():
    start = StartCodes(3, MU)
    state = fresh(start)
    browser_report(state, [1, 2.5, -1])
    assert decoder_state.accept_report(state, start)
    assert state["dec_z"] == [1.0, 2.5, -1.0] and all(isinstance(v, float) for v in state["dec_z"])


def test_a_report_drawn_before_the_page_moved_z_is_dropped():
    start = StartCodes(3, MU)
    state = fresh(start)
    browser_report(state, [1.0, 1.0, 1.0])  # in flight while the user presses Reset
    decoder_state.reset(state, start)
    assert not decoder_state.accept_report(state, start)
    assert state["dec_z"] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("report", [None, {}, {"z": None}, {"z": [1.0, 2.0]}, {"z": "1,2,3"}, {"z": [1.0, 2.0, 3.0, 4.0]}])
def test_a_missing_or_malformed_report_is_dropped(report):
    start = StartCodes(3, MU)
    state = fresh(start)
    state[LIVE_KEY] = None if report is None else {"z": {**report, "token": state["dec_token"]}}
    assert not decoder_state.accept_report(state, start)
    assert state["dec_z"] == [0.0, 0.0, 0.0]


# --- sliders, dimensions, models -----------------------------------------------------------------------

def test_dimensions_that_lose_their_slider_go_back_to_the_start_code():
    mu = np.linspace(-1, 1, 5 * 12, dtype=np.float32).reshape(5, 12)
    start = StartCodes(12, mu)
    state = fresh(start)
    state.update(dec_start=TEST_IMAGE, dec_man_x=3, dec_man_y=4)
    decoder_state.reset(state, start)
    code = list(state["dec_z"])
    state["dec_z"] = [5.0] * 12  # every slider moved
    state["dec_dims"] = [0, 1]
    token = state["dec_token"]
    decoder_state.change_dims(state, start)
    assert state["dec_z"] == [5.0, 5.0] + code[2:]
    assert state["dec_token"] == token + 1  # the browser jumps to the new code
    assert "dec_man_x" not in state and "dec_man_y" not in state  # the manifold's axes follow the new sliders


def test_another_model_starts_over_but_the_same_model_keeps_z():
    start = StartCodes(3, MU)
    state = fresh(start)
    state.update(dec_start=TEST_IMAGE, dec_dims=[1], dec_man_x=0, dec_z=[1.0, 2.0, 3.0])
    assert not decoder_state.follow_model(state, ("model-a", 1.0), start)
    assert state["dec_z"] == [1.0, 2.0, 3.0] and state["dec_start"] == TEST_IMAGE
    other = StartCodes(2, None)
    assert decoder_state.follow_model(state, ("model-b", 1.0), other)
    assert state["dec_z"] == [0.0, 0.0] and state["dec_start"] == ORIGIN
    assert "dec_dims" not in state and "dec_man_x" not in state and state["dec_token"] == 2
    assert decoder_state.follow_model(state, ("model-b", 2.0), other)  # re-trained: a new modification time


def test_slider_dims():
    assert decoder_state.slider_dims(2) == [0, 1]
    assert decoder_state.slider_dims(8, [3]) == list(range(8))  # small latents: a slider for every dimension
    assert decoder_state.slider_dims(16, [12, 3]) == [3, 12]
    assert decoder_state.slider_dims(16, []) == list(range(8))
    assert decoder_state.slider_dims(16) == list(range(8))


def test_slider_keys_change_with_the_token_and_model_ids_with_the_model():
    state = {"dec_token": 4}
    assert decoder_state.slider_key(state, 2) == "dec_srv_4_2"
    a, b = decoder_state.live_model_id(("a", 1.0)), decoder_state.live_model_id(("a", 2.0))
    assert len(a) == 12 and a != b and a == decoder_state.live_model_id(("a", 1.0))


# --- the grids ---------------------------------------------------------------------------------------

def test_code_text_and_the_same_style_row():
    assert decoder_grids.code_text([0.5, -1.0, 0.0]) == "z = [+0.50, -1.00, +0.00]"
    codes, labels = decoder_grids.same_style([0.5, -1.0], 10)
    assert codes.shape == (10, 2) and codes.dtype == np.float32 and (codes == [0.5, -1.0]).all()
    assert labels == tuple(range(10))
    assert "z = [+0.50, -1.00]" in decoder_grids.same_style_caption([0.5, -1.0])


@pytest.mark.parametrize("image_size, n, scale", [(8, 10, 5), (28, 15, 2)])
def test_the_manifold_grid_passes_through_the_current_code(image_size, n, scale):
    z = [0.3, 9.0, -0.8]  # z1 is held; the grid spans z0 (x) and z2 (y)
    m = decoder_grids.manifold(z, (0, 2), image_size)
    assert (m.n, m.scale, m.dims) == (n, scale, (0, 2))
    np.testing.assert_array_equal(m.codes, manifold_codes(3, n=n, dims=(0, 2), base=torch.tensor(z)).numpy())
    assert (m.codes[:, 1] == 9.0).all()
    # The marked cell is the grid point nearest the current code (brute force over all cells).
    row, col = m.cell
    nearest = int(np.argmin(np.abs(m.codes[:, 0] - z[0]) + np.abs(m.codes[:, 2] - z[2])))
    assert row * n + col == nearest
    values = grid_values(n).numpy()
    assert m.codes[nearest, 0] == values[col] and m.codes[nearest, 2] == values[n - 1 - row]
    assert "z₁ grows left to right, z₃ bottom to top, the other dimensions stay" in m.text()  # 1-based names
    assert f"{n} × {n}" in m.text() and "±1.64" in m.text()
    assert m.outside == () and "red box" in m.box_text()


def test_the_mark_boxes_the_nearest_cell_in_red():
    m = decoder_grids.manifold([0.0, 0.0], (0, 1), 8)
    side = m.n * (8 + 2) + 2
    grid = np.full((side * m.scale, side * m.scale), 128, dtype=np.uint8)
    marked = m.mark(grid)
    assert marked.shape == grid.shape + (3,)
    red = (marked[..., 0] == 230) & (marked[..., 1] == 40)
    rows, cols = np.nonzero(red)
    step = (8 + 2) * m.scale
    assert rows.min() == m.cell[0] * step and cols.min() == m.cell[1] * step
    assert (marked[~red] == 128).all()  # nothing else changed
    assert "the other dimensions" not in m.text()  # a 2-D latent has none


@pytest.mark.parametrize("image_size", [8, 28])
def test_a_code_off_the_grid_gets_no_box_and_a_caption_that_says_so(image_size):
    """Clamped to the nearest cell, a far code would box a corner cell that looks nothing like it."""
    m = decoder_grids.manifold([4.2, 0.3], (0, 1), image_size)
    assert m.cell is None and m.outside == ((0, pytest.approx(4.2)),)
    assert m.box_text().startswith("z is outside the grid shown (±1.64): z₁ = +4.20, so no cell is marked")
    assert "red box" not in m.box_text()
    side = m.n * (image_size + 2) + 2
    grid = np.full((side * m.scale, side * m.scale), 128, dtype=np.uint8)
    marked = m.mark(grid)
    assert marked.shape == grid.shape + (3,) and (marked == 128).all()  # no box anywhere
    both = decoder_grids.manifold([-3.0, 5.0, 0.0], (2, 1), image_size)  # y (z₂) off the grid, x (z₃) on it
    assert both.cell is None and [k for k, _ in both.outside] == [1] and "z₂ = +5.00" in both.box_text()
    corner = decoder_grids.manifold([-9.0, -9.0], (0, 1), image_size)
    assert "z₁ = -9.00 and z₂ = -9.00" in corner.box_text()


def test_a_code_just_past_the_outermost_cell_still_marks_the_edge_cell():
    values = grid_values(15).numpy()
    half_gap = (values[-1] - values[-2]) / 2
    inside = decoder_grids.manifold([values[-1] + 0.9 * half_gap, 0.0], (0, 1), 28)
    assert inside.cell == (7, 14)  # the middle row, the last column: nearest, and within half a cell
    assert decoder_grids.manifold([values[-1] + 1.1 * half_gap, 0.0], (0, 1), 28).cell is None
    assert decoder_grids.outside_grid(values, (0.0, values[0] - 1.1 * half_gap)) == [1]


def test_interpolations_run_from_a_to_b_lerp_then_slerp():
    a, b = MU[1], MU[7]
    (lerp_label, lerp), (slerp_label, slerp) = decoder_grids.interpolations(a, b, 5)
    assert "lerp" in lerp_label and "slerp" in slerp_label
    for codes in (lerp, slerp):
        assert codes.shape == (5, 3)
        np.testing.assert_allclose(codes[0], a, atol=1e-5)
        np.testing.assert_allclose(codes[-1], b, atol=1e-5)
    np.testing.assert_allclose(slerp, interpolate(torch.from_numpy(a), torch.from_numpy(b), 5, "slerp").numpy())
    np.testing.assert_allclose(lerp[2], (a + b) / 2, atol=1e-6)


def test_the_prior_grid_of_a_plain_model_is_64_codes_16_to_a_row():
    grid = decoder_grids.prior_grid(2, seed=3)
    assert grid.codes.shape == (64, 2) and grid.nrow == 16 and grid.labels is None
    assert grid.caption.startswith("64 codes drawn from the prior z ~ N(0, I) (seed 3)")
    np.testing.assert_array_equal(grid.codes, decoder_grids.prior_grid(2, seed=3).codes)  # seeded
    assert not np.array_equal(grid.codes, decoder_grids.prior_grid(2, seed=4).codes)


def test_the_prior_grid_of_a_conditional_model_says_how_many_codes_it_draws():
    model = vae.VAE(vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(16,), n_classes=10, prior="mog"))
    grid = decoder_grids.prior_grid(2, seed=0, prior=model.prior, n_classes=10, mixture=True)
    assert grid.codes.shape == (60, 2) and grid.nrow == 10
    assert grid.labels == tuple(i % 10 for i in range(60))  # one column per digit
    assert grid.caption.startswith("60 codes drawn from its learned mixture prior") and "64" not in grid.caption
    assert "one column of 6 per digit" in grid.caption
    expected = model.prior.sample(60, torch.Generator().manual_seed(0)).numpy()
    np.testing.assert_array_equal(grid.codes, expected)  # drawn from the model's own prior


def test_traversal_sweeps_each_dimension_alone_most_used_first():
    from explorer.decoder_grids import traversal

    t = traversal([0.5, -1.0, 2.0], reach=(3.0, 3.0, 4.0), kl_per_dim=(0.001, 2.5, 0.7), steps=5)
    assert t.dims == (1, 2, 0) and t.kl == (2.5, 0.7, 0.001)  # active dimensions on top, the collapsed one last
    assert t.codes.shape == (15, 3)
    first = t.codes[:5]
    assert np.allclose(first[:, 1], np.linspace(-3, 3, 5)) and np.allclose(first[:, [0, 2]], [0.5, 2.0])
    assert np.allclose(t.codes[5:10, 2], np.linspace(-4, 4, 5))  # each row swept over its own reach
    assert traversal([0.0, 0.0], reach=(3.0, 3.0)).dims == (0, 1)  # no KLs: index order
