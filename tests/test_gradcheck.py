"""Numeric gradients and rel_error: checked on functions whose gradients are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from cnncourse.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error


def test_numerical_gradient_of_known_functions():
    """grad of sum(x^3) is 3x^2 and grad of sin(x).prod() is its product rule; x is restored afterwards."""
    x = np.random.default_rng(0).standard_normal((3, 4))
    x0 = x.copy()
    g = eval_numerical_gradient(lambda a: np.sum(a ** 3), x)
    np.testing.assert_allclose(g, 3 * x0 ** 2, rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(x, x0)
    y = np.array([0.3, -1.2, 2.0])
    expected = np.cos(y) * np.prod(np.sin(y)) / np.sin(y)
    assert rel_error(eval_numerical_gradient(lambda a: np.prod(np.sin(a)), y), expected) < 1e-8


def test_numerical_gradient_array_is_vector_jacobian_product():
    """For f(x) = A @ x the VJP with upstream df is A.T @ df."""
    rng = np.random.default_rng(1)
    a, x, df = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(4)
    np.testing.assert_allclose(eval_numerical_gradient_array(lambda v: a @ v, x, df), a.T @ df, rtol=1e-8)
    with pytest.raises(ValueError, match=r"`df` expected the shape of f\(x\), \(4,\), got shape \(3,\)"):
        eval_numerical_gradient_array(lambda v: a @ v, x, df[:3])


def test_rel_error():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert np.isclose(rel_error(np.array([1.0, 0.0]), np.array([3.0, 0.0])), 0.5)   # |1-3| / (1+3)
    assert rel_error(np.zeros(2), np.array([0.0, 1e-9])) == pytest.approx(0.1)      # floor of 1e-8
    with pytest.raises(ValueError, match=r"`y` expected shape \(2,\)"):
        rel_error(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match=r"`h` expected a positive step"):
        eval_numerical_gradient(np.sum, np.zeros(2), h=0)
