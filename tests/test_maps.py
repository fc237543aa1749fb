"""explorer.maps: placing new codes on the 2-D map of the test codes."""

import numpy as np
import pytest

from explorer.maps import AXIS_TITLES, ellipse_rows, place_codes
from vae.latent import project_2d


def test_new_codes_land_where_the_map_put_the_same_codes():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(200, 6)) * np.array([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])
    proj = project_2d(codes, "pca")
    np.testing.assert_allclose(place_codes(codes[:10], proj.method, proj.pca), proj.coords[:10], atol=1e-9)
    flat = project_2d(codes[:, :2], "pca")  # a 2-D latent: the map is the codes themselves
    assert flat.method == "identity"
    np.testing.assert_array_equal(place_codes(codes[:5, :2], flat.method, flat.pca), codes[:5, :2])


def test_a_tsne_map_cannot_place_new_codes_and_bad_arguments_are_refused():
    assert place_codes(np.zeros((3, 4)), "tsne") is None
    with pytest.raises(ValueError, match="fitted pca"):
        place_codes(np.zeros((3, 4)), "pca")
    with pytest.raises(ValueError, match="method"):
        place_codes(np.zeros((3, 4)), "umap")
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        place_codes(np.zeros(4), "identity")
    assert set(AXIS_TITLES) == {"identity", "pca", "tsne"}


def test_ellipse_rows_are_a_seeded_subset_of_the_map_rows():
    rows = np.arange(1000, 2000)
    pick = ellipse_rows(rows, n=300, seed=0)
    assert len(pick) == 300 == len(set(pick.tolist())) and set(pick.tolist()) <= set(rows.tolist())
    np.testing.assert_array_equal(ellipse_rows(rows, n=300, seed=0), pick)
    assert not np.array_equal(ellipse_rows(rows, n=300, seed=1), pick)
    assert sorted(ellipse_rows(rows[:50], n=300).tolist()) == rows[:50].tolist()  # fewer rows than n: all of them


def test_interleaved_chunks_draw_every_class_near_the_end_and_each_point_once():
    from explorer.maps import interleaved_chunks

    labels = np.random.default_rng(0).choice(10, size=2000, p=[0.02] + [0.98 / 9] * 9)  # class 0 rare
    chunks = interleaved_chunks(labels)
    order = np.concatenate([idx for _, idx in chunks])
    assert sorted(order.tolist()) == list(range(len(labels)))  # a permutation: every point drawn once
    assert all((labels[idx] == g).all() for g, idx in chunks)  # each chunk one class, so one legend group
    assert len(chunks) == 20  # two rounds of ten classes: few traces for the browser to redraw
    last_round = labels[np.concatenate([idx for _, idx in chunks[-10:]])]  # drawn last, over all others
    assert set(last_round.tolist()) == set(range(10))  # one chunk of each class...
    for g in range(10):  # ...holding half of that class's points, the rare class included
        assert abs((last_round == g).sum() - (labels == g).sum() / 2) <= 1
    assert [g for g, _ in chunks[:10]] != [g for g, _ in chunks[-10:]]  # ...in a fresh order each round
    again = interleaved_chunks(labels)
    assert all(a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in zip(chunks, again))  # seeded
    few = interleaved_chunks(np.array([3, 3, 5]))  # fewer points than rounds: no empty chunks
    assert sum(len(i) for _, i in few) == 3 and all(len(i) for _, i in few)


def test_clicked_row_takes_the_last_point_of_the_scatter():
    from explorer.maps import clicked_row

    assert clicked_row([]) is None and clicked_row(None) is None
    assert clicked_row([{"x": 0.1, "y": 0.2}]) is None  # e.g. the selection ring: no row
    assert clicked_row([{"customdata": 7}, {"customdata": [12]}]) == 12
    assert clicked_row([{"customdata": np.int64(5)}, {"x": 1.0}]) == 5


def test_latent_dimensions_are_counted_from_one():
    from explorer.maps import dimension_names

    assert dimension_names(2) == ["z₁", "z₂"] and list(AXIS_TITLES["identity"]) == ["z₁", "z₂"]
    assert dimension_names(12)[-3:] == ["z₁₀", "z₁₁", "z₁₂"]


def test_no_page_outside_the_decoder_counts_latent_dimensions_from_zero():
    """Issue 13: one numbering, z₁, z₂, ... everywhere (the Decoder's files are another change's)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    decoder = {"pages/explore/decoder.py", "pages/ui/decoder_views.py", "explorer/decoder_state.py",
               "explorer/decoder_grids.py", "explorer/browser_decoder.py"}
    zero_based = re.compile(r"[zμσ]₀|\bz_?0\b(?! *=)|\b(?:latent )?dimension 0\b|\bdim 0\b|f\"[zμσ]\{[dijk]\}")
    found = [f"{p.relative_to(root)}:{n}: {line.strip()}"
             for folder in ("pages", "explorer") for p in sorted((root / folder).rglob("*.py"))
             if str(p.relative_to(root)) not in decoder and "components" not in p.parts
             for n, line in enumerate(p.read_text().splitlines(), 1) if zero_based.search(line)]
    assert not found, found


def test_posterior_draws_decode_several_codes_of_one_image():
    import torch

    import vae
    from explorer.maps import posterior_draws

    model = vae.build_model(vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(16,)), seed=0).eval()
    x = torch.rand(1, 1, 8, 8)
    z, images = posterior_draws(model, x, n=6, seed=3)
    assert z.shape == (6, 2) and images.shape == (6, 1, 8, 8)
    assert len({tuple(v) for v in z.tolist()}) == 6  # six different draws
    assert torch.equal(z, posterior_draws(model, x, n=6, seed=3)[0])  # seeded
    mu = model.encode(x).mu
    assert (z - mu).abs().max() < 6 * model.encode(x).std.max()  # around the posterior mean
    ae = vae.build_model(vae.VAEConfig(input_shape=(1, 8, 8), latent_dim=2, hidden_dims=(16,), variational=False), 0)
    z_ae, _ = posterior_draws(ae.eval(), x, n=3)
    assert torch.equal(z_ae[0], z_ae[2])  # a point code: every draw the same
