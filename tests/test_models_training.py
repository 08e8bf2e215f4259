"""train_classifier / accuracy (lecture 06's digits CNN)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnncourse.models import SmallCNN, accuracy, one_cycle_lr, train_classifier


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


def test_one_cycle_lr_equals_torch_schedule():
    """Every step's learning rate equals torch's OneCycleLR (cosine annealing)."""
    for total, pct in [(45, 0.3), (10, 0.25), (7, 0.5)]:
        opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=total, pct_start=pct,
                                                    cycle_momentum=False)
        ours = []
        for k in range(total):
            ours.append(one_cycle_lr(k, total, 0.01, pct_start=pct))
            assert ours[-1] == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
            opt.step()
            sched.step()
        assert max(ours) <= 0.01 and ours[0] == pytest.approx(0.01 / 25)
    assert one_cycle_lr(2, 10, 0.01, pct_start=0.3) == pytest.approx(0.01)   # the peak


def test_training_steps_equal_torch_adam_with_one_cycle():
    """train_classifier's parameters after a few steps equal torch.optim.Adam + OneCycleLR's."""
    x, y = _halves(48)
    torch.manual_seed(0)
    ours = SmallCNN(num_classes=2, widths=(4, 6, 8))
    theirs = SmallCNN(num_classes=2, widths=(4, 6, 8))
    theirs.load_state_dict(ours.state_dict())
    out = train_classifier(ours, x, y, epochs=2, batch_size=16, max_lr=0.02, seed=3)
    opt = torch.optim.Adam(theirs.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.02, total_steps=6, cycle_momentum=False)
    gen = torch.Generator().manual_seed(3)
    theirs.train()
    losses = []
    for _ in range(2):
        perm = torch.randperm(48, generator=gen)
        for i in range(0, 48, 16):
            loss = nn.functional.cross_entropy(theirs(x[perm[i:i + 16]]), y[perm[i:i + 16]])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
    assert out["losses"] == pytest.approx(losses, rel=1e-5)
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)
