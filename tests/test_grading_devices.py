"""Tests of cnncourse.grading.devices: tolerance policy, seeds, determinism, CPU vs CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnncourse.grading import assert_array_close
from cnncourse.grading.devices import (CUDA_FACTOR, available_devices, deterministic_torch,
                                       seed_everything, to_numpy, to_torch, tolerance)


def test_tolerance_table():
    """Do dtype and device pick the documented (rtol, atol), loosest dtype winning?"""
    assert tolerance(np.float64) == (1e-7, 1e-9)
    assert tolerance(torch.float32) == (1e-4, 1e-5)
    assert tolerance("float64", np.float32) == (1e-4, 1e-5)
    assert tolerance(torch.bfloat16) == (3e-2, 1e-2)
    assert tolerance(np.int64) == (0.0, 0.0) and tolerance(torch.bool) == (0.0, 0.0)
    r, a = tolerance(np.float32, device="cuda:0")
    assert (r, a) == pytest.approx((1e-4 * CUDA_FACTOR, 1e-5 * CUDA_FACTOR))


def test_seed_everything_reproduces_all_generators():
    """Does the same seed give the same numpy, torch and Generator draws?"""
    g1 = seed_everything(7)
    draws1 = (np.random.rand(3), torch.rand(3), g1.standard_normal(3))
    g2 = seed_everything(7)
    draws2 = (np.random.rand(3), torch.rand(3), g2.standard_normal(3))
    for a, b in zip(draws1, draws2):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_deterministic_torch_restores_flags():
    """Are TF32/determinism flags switched inside and restored afterwards?"""
    before = (torch.backends.cudnn.allow_tf32, torch.are_deterministic_algorithms_enabled())
    with deterministic_torch():
        assert not torch.backends.cudnn.allow_tf32
        assert torch.are_deterministic_algorithms_enabled()
    assert (torch.backends.cudnn.allow_tf32, torch.are_deterministic_algorithms_enabled()) == before


def test_round_trip_on_every_device(device):
    """Does to_torch/to_numpy keep values and put the tensor on the device asked for?"""
    x = np.arange(6.0).reshape(2, 3)
    t = to_torch(x, device, torch.float32)
    assert t.device.type == device and t.dtype == torch.float32
    np.testing.assert_array_equal(to_numpy(t), x)
    assert "cpu" in available_devices()


@pytest.mark.cuda
def test_cuda_conv_matches_cpu_within_policy():
    """Does a CUDA float32 conv agree with the CPU float64 one under the documented tolerance?"""
    rng = seed_everything(0)
    x, w = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3))
    cpu = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1)
    with deterministic_torch():
        gpu = torch.nn.functional.conv2d(to_torch(x, "cuda", torch.float32),
                                         to_torch(w, "cuda", torch.float32), padding=1)
    rtol, atol = tolerance(torch.float32, device="cuda")
    assert_array_close(to_numpy(gpu), cpu.numpy().astype(np.float32), rtol=rtol, atol=atol)
