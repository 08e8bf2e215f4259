"""Tests of cnncourse.grading.cases: seeded, varied, valid, and covering the edge categories."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncourse.grading import assert_array_close, cases


def _same(a, b):
    return all(np.array_equal(a[k], b[k]) if isinstance(a[k], np.ndarray) else a[k] == b[k]
               for k in a)


def test_same_seed_same_cases_different_seed_different_cases():
    """Are generators deterministic per seed and different across seeds?"""
    a, b = list(cases.conv_cases(3, 7)), list(cases.conv_cases(3, 7))
    assert all(_same(x, y) and np.array_equal(x.dout, y.dout) for x, y in zip(a, b))
    c = list(cases.conv_cases(4, 7))
    assert not np.array_equal(a[0]["x"], c[0]["x"])


def test_conv_cases_are_valid_and_dout_matches_torch():
    """Does torch accept every conv case, with dout shaped like torch's output?"""
    for case in cases.conv_cases(0, 12):
        b = None if case["b"] is None else torch.from_numpy(case["b"])
        out = F.conv2d(torch.from_numpy(case["x"]), torch.from_numpy(case["w"]), b,
                       stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
        assert out.shape == case.dout.shape, case


def test_conv_cases_cover_the_edge_categories():
    """Are stride-not-dividing, non-square, batch-1, dilation and no-bias cases all present?"""
    cs = list(cases.conv_cases(0, 6))
    def rest(c, axis):
        h = c["x"].shape[2 + axis]
        k = c["w"].shape[2 + axis]
        return (h + 2 * c["padding"][axis] - c["dilation"][axis] * (k - 1) - 1) % c["stride"][axis]
    assert any(rest(c, 0) != 0 for c in cs)
    assert any(c["x"].shape[2] != c["x"].shape[3] for c in cs)
    assert any(c["w"].shape[2] != c["w"].shape[3] for c in cs)
    assert any(c["x"].shape[0] == 1 for c in cs)
    assert any(max(c["dilation"]) > 1 for c in cs)
    assert any(c["b"] is None for c in cs)
    assert len({c["x"].shape for c in cs}) == len(cs)


def test_pool_cases_are_valid_overlap_and_have_ties():
    """Do pool cases match torch's output shape, include overlapping windows and tied maxima?"""
    cs = list(cases.pool_cases(0, 10))
    for c in cs:
        out = F.max_pool2d(torch.from_numpy(c["x"]), c["kernel_size"], c["stride"])
        assert out.shape == c.dout.shape
    assert any(c["stride"][0] < c["kernel_size"][0] for c in cs)

    def window_has_tie(c):
        x, (kh, kw), (sh, sw) = c["x"], c["kernel_size"], c["stride"]
        for i in range(0, x.shape[2] - kh + 1, sh):
            for j in range(0, x.shape[3] - kw + 1, sw):
                win = x[0, 0, i:i + kh, j:j + kw]
                if (win == win.max()).sum() > 1:
                    return True
        return False
    assert any(window_has_tie(c) for c in cs)
    assert all(not window_has_tie(c) for c in cases.pool_cases(1, 5, ties=False))


def test_hard_coded_visible_example_cannot_pass():
    """Does a 'student' that returns the first case's answer fail on a later case?"""
    cs = list(cases.conv_cases(0, 6))
    def reference(c):
        b = None if c["b"] is None else torch.from_numpy(c["b"])
        return F.conv2d(torch.from_numpy(c["x"]), torch.from_numpy(c["w"]), b, stride=c["stride"],
                        padding=c["padding"], dilation=c["dilation"]).numpy()
    hard_coded = reference(cs[0])
    with pytest.raises(AssertionError):
        for c in cs:
            assert_array_close(hard_coded, reference(c))


def test_small_generators():
    """Do batchnorm, pad and output-size cases have consistent shapes and exact sizes?"""
    for c in cases.batchnorm_cases(0, 4):
        assert c["x"].shape == c.dout.shape and c["gamma"].shape == (c["x"].shape[1],)
        assert c["x"].shape[0] >= 2
    assert {c.label for c in cases.batchnorm_cases(0, 4)} >= {"training 4-D", "eval 2-D"}
    pads = list(cases.pad_cases(0, 4))
    assert pads[0]["padding"] == (1, 2) and pads[1]["x"].shape[0] == 1
    for c in cases.output_size_cases(0, 10):
        num = c["size"] + 2 * c["padding"] - c["dilation"] * (c["kernel"] - 1) - 1
        assert num >= 0 and num % c["stride"] == 0
    assert next(iter(cases.output_size_cases(0, 1)))["size"] == 32


def test_dtype_and_bad_n():
    """Is `dtype` honoured and a bad `n` refused?"""
    c = next(iter(cases.conv_cases(0, 1, dtype=np.float32)))
    assert c["x"].dtype == np.float32 and c.dout.dtype == np.float32
    with pytest.raises(ValueError, match="`n` expected an integer >= 1"):
        list(cases.pool_cases(0, 0))
