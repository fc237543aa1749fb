"""Figure builders: the data that reaches the browser."""

import numpy as np

from explorer.figures import latent_scatter, training_curves


def test_latent_scatter_one_trace_per_class_with_rows_in_customdata():
    coords = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    labels = np.array([1, 0, 1, 0])
    rows = np.array([10, 11, 12, 13])
    fig = latent_scatter(coords, labels, ["zero", "one"], rows=rows, highlights={"mine": np.array([0.5, 0.5])},
                         ellipses=(np.array([0.0, 1.0, np.nan]), np.array([0.0, 1.0, np.nan])))
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["zero"].customdata) == [11, 13] and list(by_name["one"].customdata) == [10, 12]
    assert list(by_name["zero"].x) == [1.0, 3.0]
    assert by_name["mine"].marker.symbol == "star" and list(by_name["mine"].x) == [0.5]
    assert "1σ posterior" in by_name


def test_training_curves_plot_train_and_test_terms():
    history = [{"epoch": e, "train_neg_elbo": 10.0 - e, "test_neg_elbo": 11.0 - e, "train_recon": 8.0, "test_recon": 9.0,
                "train_kl": 2.0, "test_kl": 2.0} for e in (1, 2, 3)]
    fig = training_curves(history)
    assert len(fig.data) == 6
    first = fig.data[0]
    assert first.name == "train" and list(first.y) == [9.0, 8.0, 7.0] and list(first.x) == [1, 2, 3]
    only_train = training_curves([{"epoch": 1, "train_neg_elbo": 1.0, "train_recon": 1.0, "train_kl": 0.0}])
    assert {t.name for t in only_train.data} == {"train"}
