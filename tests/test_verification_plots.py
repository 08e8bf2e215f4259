"""The plots draw exactly the computed curves and histograms."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from cnncourse import verification as V  # noqa: E402


def test_plot_roc_draws_roc_curve_with_auc():
    """Does the first line hold roc_curve's points and the legend the AUC?"""
    labels = np.array([0, 0, 1, 1, 1, 0])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.5])
    ax = V.plot_roc(torch.tensor(labels), torch.tensor(scores), label="model", mark_far=[0.1])
    fpr, tpr, _ = V.roc_curve(labels, scores)
    line = ax.get_lines()[0]
    np.testing.assert_array_equal(line.get_xdata(), fpr)
    np.testing.assert_array_equal(line.get_ydata(), tpr)
    auc = V.roc_auc_score(labels, scores)
    assert ax.get_legend().get_texts()[0].get_text() == f"model (AUC = {auc:.4f})"
    plt.close(ax.figure)


def test_plot_cmc_and_histograms():
    """The CMC line is (1..R, cmc); the histogram bars count same and different pairs separately."""
    cmc = torch.tensor([0.5, 0.75, 1.0], dtype=torch.float64)
    ax = V.plot_cmc(cmc, label="ours")
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), cmc.numpy())
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), [0.5])  # rank 1 marked (5, 10, 20 > 3)
    plt.close(ax.figure)
    labels = np.array([1, 1, 1, 0, 0])
    dist = np.array([0.1, 0.2, 0.25, 0.9, 1.0])
    _, ax = plt.subplots()
    V.plot_distance_histograms(labels, dist, ax=ax, bins=3, threshold=0.5)
    same, diff = ax.containers
    for bars in (same, diff):  # each class is a density: bar areas sum to 1
        area = sum(b.get_height() * b.get_width() for b in bars)
        assert abs(area - 1.0) < 1e-12
    assert [b.get_height() > 0 for b in same] == [True, False, False]
    assert [b.get_height() > 0 for b in diff] == [False, False, True]
    plt.close(ax.figure)
