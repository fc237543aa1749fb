"""Figure builders: the data that reaches the browser."""

import numpy as np

from explorer.figures import latent_scatter, training_curves


def _by_class(fig):
    """name -> the customdata and x of all the point traces of that class, in drawing order."""
    out = {}
    for t in fig.data:
        if t.legendgroup and t.type == "scattergl" and t.customdata is not None:
            rows, xs = out.setdefault(t.name, ([], []))
            rows += list(t.customdata)
            xs += list(t.x)
    return out


def _boxes(fig, width=800, height=640):
    """Pixel boxes (x0, x1, y0, y1) of a figure's label annotations, from their data point and pixel offset."""
    xs = [x for t in fig.data if t.x is not None for x in t.x if x is not None and np.isfinite(x)]
    ys = [y for t in fig.data if t.y is not None for y in t.y if y is not None and np.isfinite(y)]
    sx, sy = width / (max(xs) - min(xs)), height / (max(ys) - min(ys))
    out = []
    for a in fig.layout.annotations:
        w = len(a.text) * 7.2 + 6
        cx = a.x * sx + (a.ax or 0) + {"left": w / 2, "right": -w / 2}.get(a.xanchor, 0)  # ax: the anchored edge
        cy = a.y * sy - (a.ay or 0)
        out.append((cx - w / 2, cx + w / 2, cy - 8, cy + 8))
    return out


def test_latent_scatter_interleaves_classes_with_rows_in_customdata():
    coords = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    labels = np.array([1, 0, 1, 0])
    rows = np.array([10, 11, 12, 13])
    fig = latent_scatter(coords, labels, ["zero", "one"], rows=rows, highlights={"mine": np.array([0.5, 0.5])},
                         ellipses=(np.array([0.0, 1.0, np.nan]), np.array([0.0, 1.0, np.nan])))
    by_class = _by_class(fig)
    assert sorted(by_class["zero"][0]) == [11, 13] and sorted(by_class["one"][0]) == [10, 12]
    for rows_, xs in by_class.values():  # each point's row goes with its coordinates
        assert all(coords[list(rows).index(r), 0] == x for r, x in zip(rows_, xs))
    legend = [t.name for t in fig.data if t.showlegend is not False and t.legendgroup]
    assert sorted(legend) == ["one", "zero"]  # one legend entry per class, which toggles all its chunks
    by_name = {t.name: t for t in fig.data}
    assert by_name["mine"].marker.symbol == "star" and list(by_name["mine"].x) == [0.5]
    assert "1σ posterior" in by_name


def test_what_the_user_asked_for_is_drawn_over_the_points_and_a_click_fades_nothing():
    rng = np.random.default_rng(0)
    coords, labels = rng.normal(size=(500, 2)), rng.integers(0, 10, 500)
    names = [str(i) for i in range(10)]
    fig = latent_scatter(coords, labels, names, rows=np.arange(500) + 1000, selected_row=1007,
                         ellipses=(np.array([0.0, 0.1, np.nan]), np.array([0.0, 0.1, np.nan])),
                         highlights={"a.png": np.array([0.0, 0.0]), "b.png": np.array([0.02, 0.01]),
                                     "c.png": np.array([0.01, 0.03])})
    kinds = ["points" if t.customdata is not None and t.legendgroup else t.name for t in fig.data]
    last_point = max(i for i, k in enumerate(kinds) if k == "points")
    overlays = kinds[last_point + 1:]
    assert {"1σ posterior", "selected image", "a.png", "b.png", "c.png"} <= set(overlays)
    assert all(t.type == "scattergl" for t in fig.data)  # WebGL draws above SVG: overlays must be WebGL too
    ring = [t for t in fig.data if t.name == "selected image"]
    np.testing.assert_allclose([ring[-1].x[0], ring[-1].y[0]], coords[7])
    points = [t for t in fig.data if t.customdata is not None and t.legendgroup]
    assert all(t.unselected.marker.opacity == t.marker.opacity >= 0.6 for t in points)  # nothing fades on a click
    assert [a.text for a in fig.layout.annotations] == ["#1007", "★ a.png", "★ b.png", "★ c.png"]
    boxes = _boxes(fig)  # the labels of four marks within a few pixels of each other do not overlap
    assert not any(a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]
                   for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert latent_scatter(coords, labels, names, selected_row=99_999).data[-1].name != "selected image"


def test_the_prior_and_holes_overlay_keeps_the_points_readable():
    from explorer.figures import add_density_overlay
    from explorer.holes import density_grid
    from vae.model import StandardNormalPrior

    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * np.pi, 400)
    mu = 2.0 * np.stack([np.cos(angle), np.sin(angle)], 1)  # a ring of codes: a hole in the middle
    grid = density_grid(StandardNormalPrior(2), mu, np.full_like(mu, np.log(0.2**2)), n=61)
    fig = latent_scatter(mu, rng.integers(0, 3, 400), ["a", "b", "c"], highlights={"mine": np.array([0.0, 0.0])})
    before = {id(t): t.marker.opacity for t in fig.data if t.legendgroup}
    add_density_overlay(fig, grid, grid.holes(k=3))
    kinds = ["prior p(z)" if t.legendgroup == "prior" else "points" if t.legendgroup else t.name for t in fig.data]
    assert fig.data[0].type == "heatmap" and fig.data[0].name == "holes"  # the shading under everything
    assert np.nanmin(fig.data[0].z) >= 0 and np.isfinite(fig.data[0].z).sum() > 0
    first_prior, last_point = kinds.index("prior p(z)"), max(i for i, k in enumerate(kinds) if k == "points")
    assert last_point < first_prior < kinds.index("hole centres") < kinds.index("mine")  # contours over the points
    assert all(t.marker.opacity == before[id(t)] for t in fig.data if id(t) in before)  # points not faded
    assert [t.meta for t in fig.data if t.legendgroup == "prior"] == ["50%", "90%", "99%"]
    assert [a.text for a in fig.layout.annotations] == ["★ mine", "H1", "H2", "H3"]
    legend = [t.name for t in fig.data if t.showlegend is not False and t.name]
    assert "holes" in legend and "prior p(z): 50%, 90%, 99% of draws inside" in legend  # the shading, the contours


def test_clusters_have_their_own_colours_and_centres_on_top():
    from explorer.figures import CLASS_COLOURS, CLUSTER_COLOURS, cluster_scatter

    assert len(set(CLUSTER_COLOURS)) == 20 and not set(CLUSTER_COLOURS) & set(CLASS_COLOURS)
    rng = np.random.default_rng(0)
    coords, clusters = rng.normal(size=(300, 2)), rng.integers(0, 4, 300)
    fig = cluster_scatter(coords, clusters, centres=np.array([[0.0, 0.0], [0.05, 0.0], [1.0, 1.0], [2.0, 0.0]]))
    assert fig.data[-1].name == "centres" and fig.data[-1].type == "scattergl"
    assert [a.text for a in fig.layout.annotations] == ["0", "1", "2", "3"]
    colours = {t.name: t.marker.color for t in fig.data if t.legendgroup}
    assert colours["cluster 0"] == CLUSTER_COLOURS[0] != CLASS_COLOURS[0]


def test_log_axis_ticks_are_round_numbers_written_out():
    from explorer.figures import log_ticks, score_histogram

    assert log_ticks(40, 3000) == [50, 100, 200, 500, 1000, 2000]
    assert log_ticks(80, 400) == [80, 90, 100, 200, 300, 400]
    assert log_ticks(95, 130) == [100, 110, 120, 130]
    fig = score_histogram({"digits": np.linspace(60, 200, 50), "noise": np.linspace(900, 3000, 20)})
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.ticktext) == ["100", "200", "500", "1,000", "2,000"]


def test_training_curves_plot_train_and_test_terms():
    history = [{"epoch": e, "train_neg_elbo": 10.0 - e, "test_neg_elbo": 11.0 - e, "train_recon": 8.0, "test_recon": 9.0,
                "train_kl": 2.0, "test_kl": 2.0} for e in (1, 2, 3)]
    fig = training_curves(history)
    assert len(fig.data) == 6
    first = fig.data[0]
    assert first.name == "train" and list(first.y) == [9.0, 8.0, 7.0] and list(first.x) == [1, 2, 3]
    only_train = training_curves([{"epoch": 1, "train_neg_elbo": 1.0, "train_recon": 1.0, "train_kl": 0.0}])
    assert {t.name for t in only_train.data} == {"train"}
