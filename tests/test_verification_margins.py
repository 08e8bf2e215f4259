"""SphereFace / CosFace / ArcFace margin logits against the papers' formulas written with arccos."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnncourse.verification import DEFAULT_MARGINS, cosine_similarity_matrix, margin_logits


def _direct(cos, labels, method, s, m):
    """Loop reference: theta = arccos(cos) and the formula of each paper, target entry only."""
    out = cos.clone() * s
    for i, y in enumerate(labels.tolist()):
        theta = math.acos(float(cos[i, y]))
        if method == "arcface":
            t = math.cos(theta + m)
        elif method == "cosface":
            t = math.cos(theta) - m
        else:
            k = min(math.floor(m * theta / math.pi), m - 1)
            t = (-1) ** k * math.cos(m * theta) - 2 * k
        out[i, y] = s * t
    return out


@pytest.fixture
def cos_labels(rng):
    cos = torch.tensor(rng.uniform(-0.999, 0.999, size=(25, 6)))
    return cos, torch.tensor(rng.integers(0, 6, size=25))


@pytest.mark.parametrize("method,margin", [("arcface", 0.5), ("arcface", 0.2), ("cosface", 0.35),
                                           ("sphereface", 4), ("sphereface", 2), ("sphereface", 1)])
def test_matches_direct_formulas(cos_labels, method, margin):
    """Is only the target logit changed, and to the paper's formula?"""
    cos, labels = cos_labels
    out = margin_logits(cos, labels, method=method, scale=30.0, margin=margin)
    torch.testing.assert_close(out, _direct(cos, labels, method, 30.0, margin))


def test_defaults_and_hand_values():
    """Defaults s=64 and the paper margins; cos=1 (theta=0) gives s*cos(m), s*(1-m), s*1."""
    assert DEFAULT_MARGINS == {"sphereface": 4, "cosface": 0.35, "arcface": 0.5}
    cos = torch.tensor([[1.0, 0.5]])
    y = torch.tensor([0])
    torch.testing.assert_close(margin_logits(cos, y), torch.tensor([[64 * math.cos(0.5), 32.0]]))
    torch.testing.assert_close(margin_logits(cos, y, method="cosface"), torch.tensor([[64 * 0.65, 32.0]]))
    torch.testing.assert_close(margin_logits(cos, y, method="sphereface"), torch.tensor([[64.0, 32.0]]))
    # theta = 90 degrees, m = 4: k = 2, psi = cos(2 pi) - 4 = -3
    torch.testing.assert_close(margin_logits(torch.tensor([[0.0]]), y, method="sphereface", scale=1.0),
                               torch.tensor([[-3.0]]))


def test_sphereface_psi_is_monotone_and_continuous():
    """psi(theta) decreases from 1 to -2m+1 over [0, pi] without jumps (the reason for k)."""
    theta = torch.linspace(0, math.pi, 2001, dtype=torch.float64)
    cos = torch.cos(theta)[:, None]
    psi = margin_logits(cos, torch.zeros(2001, dtype=torch.long), method="sphereface", scale=1.0)[:, 0]
    assert (torch.diff(psi) <= 1e-12).all()
    assert torch.diff(psi).abs().max() < 0.01
    assert float(psi[0]) == pytest.approx(1.0) and float(psi[-1]) == pytest.approx(-7.0)


def test_per_sample_scale_and_cross_entropy(rng):
    """A Tensor[N, 1] scale multiplies row by row; the logits train with cross-entropy."""
    emb = torch.tensor(rng.normal(size=(8, 5)), requires_grad=True)
    weights = torch.tensor(rng.normal(size=(3, 5)), requires_grad=True)
    labels = torch.tensor(rng.integers(0, 3, size=8))
    cos = cosine_similarity_matrix(emb, weights)
    norms = emb.norm(dim=1, keepdim=True)
    out = margin_logits(cos, labels, method="sphereface", scale=norms)
    torch.testing.assert_close(out, margin_logits(cos, labels, method="sphereface", scale=1.0) * norms)
    torch.nn.functional.cross_entropy(out, labels).backward()
    assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0


@pytest.mark.parametrize("method", ["arcface", "cosface", "sphereface"])
def test_gradcheck(cos_labels, method):
    """float64 gradcheck of the logits with respect to the cosines."""
    cos, labels = cos_labels
    cos = (cos[:6] * 0.9).requires_grad_(True)  # keep away from the piece boundaries of |cos| = 1
    assert torch.autograd.gradcheck(lambda c: margin_logits(c, labels[:6], method=method, scale=2.0), (cos,))


def test_gradient_finite_at_cos_one():
    """ArcFace at cos = 1 (sin theta = 0) has a finite gradient."""
    cos = torch.tensor([[1.0, 0.2]], requires_grad=True)
    margin_logits(cos, torch.tensor([0])).sum().backward()
    assert torch.isfinite(cos.grad).all()


def test_errors():
    """Out-of-range labels, bad margins, scales and methods raise ValueError."""
    cos = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"`labels` expected class indices in \[0, 3\), got values in \[0, 3\]"):
        margin_logits(cos, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"`labels` expected length 2"):
        margin_logits(cos, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"`margin` expected a positive integer for method='sphereface', got 1.5"):
        margin_logits(cos, torch.tensor([0, 1]), method="sphereface", margin=1.5)
    with pytest.raises(ValueError,
                       match=r"`method` expected 'arcface', 'cosface' or 'sphereface', got 'normface'"):
        margin_logits(cos, torch.tensor([0, 1]), method="normface")
    with pytest.raises(ValueError, match=r"`scale` expected a number > 0, got 0"):
        margin_logits(cos, torch.tensor([0, 1]), scale=0)
    with pytest.raises(ValueError, match=r"`scale` expected a float or a Tensor\[2, 1\], got \(2,\)"):
        margin_logits(cos, torch.tensor([0, 1]), scale=torch.ones(2))
    with pytest.raises(ValueError, match=r"`cosine` expected values without NaN"):
        margin_logits(torch.full((1, 2), float("nan")), torch.tensor([0]))
    assert margin_logits(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)).shape == (0, 3)
