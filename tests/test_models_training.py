"""train_classifier / accuracy (lecture 06's digits CNN)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnncourse.models import SmallCNN, accuracy, train_classifier


def _halves(n: int = 128, seed: int = 0):
    """Class 0: the left half is bright; class 1: the right half. Plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    x = 0.3 * torch.rand(n, 1, 8, 8, generator=g)
    for i, c in enumerate(labels.tolist()):
        x[i, 0, :, c * 4:(c + 1) * 4] += 1.0
    return x, labels


def test_training_learns_a_separable_task_and_is_deterministic():
    x, y = _halves()
    torch.manual_seed(0)
    model = SmallCNN(num_classes=2, widths=(4, 8, 8))
    out = train_classifier(model, x, y, epochs=4, batch_size=16, seed=1)
    assert not model.training
    assert len(out["losses"]) == 4 * 8 and len(out["epoch_losses"]) == 4
    assert out["epoch_losses"][-1] < out["epoch_losses"][0]
    xt, yt = _halves(64, seed=5)
    assert accuracy(model, xt, yt) == 1.0
    torch.manual_seed(0)
    again = SmallCNN(num_classes=2, widths=(4, 8, 8))
    assert train_classifier(again, x, y, epochs=4, batch_size=16, seed=1)["losses"] == out["losses"]


def test_accuracy_equals_a_manual_count_and_restores_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3), nn.Dropout(0.5)).train()
    x, y = torch.randn(50, 1, 8, 8), torch.randint(0, 3, (50,))
    model.eval()
    expected = sum(int(model(x[i:i + 1]).argmax(1).item() == y[i].item()) for i in range(50)) / 50
    model.train()
    assert accuracy(model, x, y, batch_size=7) == expected and model.training


def test_errors():
    model = SmallCNN()
    with pytest.raises(ValueError, match="`images`"):
        train_classifier(model, torch.zeros(4, 8, 8), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="`labels`"):
        accuracy(model, torch.zeros(4, 1, 8, 8), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="`epochs`"):
        train_classifier(model, torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long), epochs=0)
