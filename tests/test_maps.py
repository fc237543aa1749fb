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
