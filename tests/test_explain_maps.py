"""Occlusion maps, CAM and Grad-CAM (lecture 06).

Oracles: captum's ``LayerGradCam`` and ``Occlusion`` (independent implementations), slow loop twins
written here, and the identity Grad-CAM = CAM / (h w) on a global-average-pooling network.
"""

from __future__ import annotations

import pytest
import torch
from captum.attr import LayerGradCam, Occlusion
from torch import nn

from cnncourse.explain import class_activation_map, grad_cam, normalize_map, occlusion_map, upsample_map
from cnncourse.models import SmallCNN


def _trained_like(seed: int = 0) -> SmallCNN:
    """A SmallCNN with random weights and non-trivial batch-norm statistics, in train mode."""
    torch.manual_seed(seed)
    model = SmallCNN(widths=(4, 6, 8))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5), m.bias.data.uniform_(-0.5, 0.5)
    return model.train()


def test_grad_cam_equals_captum_layer_grad_cam():
    """Signed and ReLU'd maps equal captum's at the features layer, for per-image targets."""
    model = _trained_like()
    x = torch.randn(3, 1, 12, 12)
    target = torch.tensor([1, 4, 7])
    ours = grad_cam(model, model.features, x, target, relu=False)
    assert model.training   # mode restored
    model.eval()
    captum = LayerGradCam(model, model.features)
    ref = captum.attribute(x, target=target).squeeze(1).detach()
    torch.testing.assert_close(ours, ref)
    ref_relu = captum.attribute(x, target=target, relu_attributions=True).squeeze(1).detach()
    torch.testing.assert_close(grad_cam(model, model.features, x, target), ref_relu)
    # an intermediate block too (output (N, 6, 6, 6))
    torch.testing.assert_close(grad_cam(model, model.features[2], x, 2, relu=False),
                               LayerGradCam(model, model.features[2]).attribute(x, target=2).squeeze(1).detach())


def test_grad_cam_is_cam_over_hw_on_a_gap_network():
    """On GAP + linear, dy_c/dA_k = w_ck/(h w): Grad-CAM (signed) = CAM / (h w)."""
    model = _trained_like(1).eval()
    x = torch.randn(2, 1, 10, 10)
    feats = model.features(x).detach()              # (2, 8, 5, 5)
    cam = class_activation_map(feats, model.fc.weight.detach(), 3)
    gc = grad_cam(model, model.features, x, 3, relu=False)
    torch.testing.assert_close(gc, cam / 25)


def test_cam_loop_twin_and_logit_identity():
    """M_c(x, y) = sum_k w_ck A_k(x, y) by loops; mean M_c + b_c is the logit."""
    model = _trained_like(2).eval()
    x = torch.randn(2, 1, 8, 8)
    target = torch.tensor([0, 9])
    feats = model.features(x).detach()
    cam = class_activation_map(feats, model.fc.weight.detach(), target)
    w = model.fc.weight.detach()
    for n in range(2):
        for i in range(feats.shape[2]):
            for j in range(feats.shape[3]):
                ref = sum(w[target[n], k] * feats[n, k, i, j] for k in range(feats.shape[1]))
                torch.testing.assert_close(cam[n, i, j], ref)
    logits = model(x).detach()
    torch.testing.assert_close(cam.mean((1, 2)) + model.fc.bias.detach()[target], logits[[0, 1], target])


def _occlusion_twin(model, x, target, patch, stride, fill):
    """One forward pass per position, obviously."""
    model.eval()
    n, _, h, w = x.shape
    rows, cols = range(0, h - patch + 1, stride), range(0, w - patch + 1, stride)
    out = torch.empty(n, len(rows), len(cols))
    with torch.no_grad():
        for k in range(n):
            for a, i in enumerate(rows):
                for b, j in enumerate(cols):
                    xo = x[k:k + 1].clone()
                    xo[:, :, i:i + patch, j:j + patch] = fill
                    out[k, a, b] = torch.softmax(model(xo), 1)[0, target[k]]
    return out


@pytest.mark.parametrize("patch,stride,fill,batch", [(3, 1, 0.0, 7), (4, 2, 0.5, 256)])
def test_occlusion_map_equals_slow_twin(patch, stride, fill, batch):
    model = _trained_like(3)
    x = torch.rand(2, 1, 9, 10)
    target = torch.tensor([2, 5])
    ours = occlusion_map(model, x, target, patch=patch, stride=stride, fill=fill, batch_size=batch)
    assert model.training
    ref = _occlusion_twin(model, x, target, patch, stride, fill)
    assert ours.shape == ((2, (9 - patch) // stride + 1, (10 - patch) // stride + 1))
    torch.testing.assert_close(ours, ref)


def test_occlusion_map_agrees_with_captum_occlusion():
    """captum's per-pixel attribution = mean over the windows covering a pixel of (p - p_occluded)."""
    model = _trained_like(4).eval()
    x = torch.rand(1, 1, 8, 8)
    patch, target = 3, 6
    probs = occlusion_map(model, x, target, patch=patch, stride=1)[0]   # (6, 6)
    with torch.no_grad():
        p0 = torch.softmax(model(x), 1)[0, target]
    drop = p0 - probs
    total, count = torch.zeros(8, 8), torch.zeros(8, 8)
    for i in range(6):
        for j in range(6):
            total[i:i + patch, j:j + patch] += drop[i, j]
            count[i:i + patch, j:j + patch] += 1
    occ = Occlusion(lambda t: torch.softmax(model(t), 1))
    ref = occ.attribute(x, target=target, sliding_window_shapes=(1, patch, patch), strides=(1, 1, 1),
                        baselines=0.0)[0, 0].detach()
    torch.testing.assert_close(total / count, ref, atol=1e-6, rtol=1e-5)


def test_upsample_and_normalize():
    m = torch.tensor([[[0.0, 2.0], [4.0, 6.0]], [[1.0, 1.0], [1.0, 1.0]]])
    up = upsample_map(m, 4)
    torch.testing.assert_close(up, nn.functional.interpolate(m[:, None], size=(4, 4), mode="bilinear")[:, 0])
    nm = normalize_map(m)
    torch.testing.assert_close(nm[0], m[0] / 6)
    assert (nm[1] == 0).all()


def test_errors_name_the_argument():
    model = _trained_like()
    x = torch.randn(1, 1, 8, 8)
    with pytest.raises(ValueError, match="`x`"):
        grad_cam(model, model.features, x[0], 0)
    with pytest.raises(ValueError, match="`layer`"):
        grad_cam(model, nn.Conv2d(1, 1, 1), x, 0)
    with pytest.raises(ValueError, match="`target`"):
        grad_cam(model, model.features, x, [1, 2])
    with pytest.raises(ValueError, match="`patch`"):
        occlusion_map(model, x, 0, patch=9)
    with pytest.raises(TypeError, match="`x`"):
        occlusion_map(model, x.numpy(), 0)
    with pytest.raises(ValueError, match="`fc_weight`"):
        class_activation_map(torch.zeros(1, 4, 2, 2), torch.zeros(10, 3), 0)
    with pytest.raises(ValueError, match="`maps`"):
        upsample_map(torch.zeros(2, 2), 4)


def test_maps_follow_the_device(device):
    """Occlusion and Grad-CAM run on the input's device and match the CPU results."""
    model = _trained_like(5).eval()
    x = torch.rand(2, 1, 8, 8)
    cpu_gc = grad_cam(model, model.features, x, 1)
    cpu_occ = occlusion_map(model, x, 1, patch=3)
    model_d, x_d = model.to(device), x.to(device)
    gc = grad_cam(model_d, model_d.features, x_d, 1)
    occ = occlusion_map(model_d, x_d, 1, patch=3)
    assert gc.device.type == occ.device.type == torch.device(device).type
    tol = dict(atol=1e-4, rtol=1e-3) if device != "cpu" else dict(atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(gc.cpu(), cpu_gc, **tol)
    torch.testing.assert_close(occ.cpu(), cpu_occ, **tol)
