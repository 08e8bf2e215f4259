"""The lecture 05 architectures and blocks.

Oracles: torchvision's published parameter counts (constants below, always checked), FlopCounterMode,
forward passes, slow loop twins of the blocks, and torchvision's own definitions when it imports
(state-dict keys, shapes and outputs after copying the weights).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from _torchvision import torchvision_or_skip
from cnncourse.costs import conv2d_params, layer_costs
from cnncourse.models import (MOBILEFACENET_TABLE, AlexNet, AlexNetSlide, BasicBlock, Bottleneck,
                              DenseBlock, DepthwiseSeparable, GoogLeNet, InvertedResidual, LeNet5,
                              MobileFaceNet, ResNet, SEBlock, SmallCNN, VGG, channel_shuffle, googlenet,
                              mobilenet_v2, resnet18, resnet50, resnext50_32x4d, vgg16)

# torchvision's documentation, "num_params" of each model's IMAGENET1K_V1 weights (no aux heads).
PUBLISHED_PARAMS = {
    "vgg16": 138_357_544,
    "alexnet": 61_100_840,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "googlenet": 6_624_904,
    "mobilenet_v2": 3_504_872,
    "resnext50_32x4d": 25_028_904,
}
BUILDERS = {"vgg16": vgg16, "alexnet": AlexNet, "resnet18": resnet18, "resnet50": resnet50,
            "googlenet": googlenet, "mobilenet_v2": mobilenet_v2, "resnext50_32x4d": resnext50_32x4d}


def _meta(builder, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return builder(**kwargs)


def _n(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_parameter_counts_equal_torchvision_docs_and_flop_counter(name):
    """Published count = sum(numel) = the walker's total; walker FLOPs = FlopCounterMode at 224x224."""
    model = _meta(BUILDERS[name])
    x = torch.zeros(1, 3, 224, 224, device="meta")
    report = layer_costs(model, x)
    assert _n(model) == report.total_params == report.layer_params == PUBLISHED_PARAMS[name]
    with FlopCounterMode(display=False) as counter:
        y = model(x)
    assert report.total_flops == counter.get_total_flops()
    assert tuple(y.shape) == (1, 1000) == report.layers[-1].output_shape
    assert not report.uncounted


def test_published_multiply_adds():
    """VGG16 15.47 G and paper-style ResNet-50 3.86 G multiply-adds (the seed's SENet table)."""
    x = torch.zeros(1, 3, 224, 224, device="meta")
    assert round(layer_costs(_meta(vgg16), x).total_macs / 1e9, 2) == 15.47
    assert round(layer_costs(_meta(resnet50, stride_in_1x1=True), x).total_macs / 1e9, 2) == 3.86
    assert round(layer_costs(_meta(resnet50), x).total_macs / 1e9, 2) == 4.09   # torchvision's v1.5


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_real_forward_at_batch_one(name):
    """Every model runs on real CPU tensors (64x64 input to stay fast; adaptive pools absorb it)."""
    torch.manual_seed(0)
    model = BUILDERS[name]().eval()
    with torch.no_grad():
        y = model(torch.randn(1, 3, 64, 64))
    assert y.shape == (1, 1000) and torch.isfinite(y).all()


def test_slide_alexnet_lenet_and_small_cnn():
    """AlexNetSlide 62,378,344 params at 227x227; LeNet-5 61,706; SmallCNN's CAM-ready head."""
    slide = _meta(AlexNetSlide)
    assert _n(slide) == 62_378_344
    assert slide(torch.zeros(2, 3, 227, 227, device="meta")).shape == (2, 1000)
    lenet = LeNet5()
    assert _n(lenet) == 61_706 and lenet(torch.zeros(3, 1, 32, 32)).shape == (3, 10)
    cnn = SmallCNN()
    x = torch.randn(2, 1, 16, 16)
    assert cnn.features(x).shape == (2, 64, 8, 8) and cnn(x).shape == (2, 10)


def test_googlenet_aux_heads_and_paper_kernel():
    """aux_logits adds two heads in training mode; kernel5=5 (the paper) has more parameters."""
    torch.manual_seed(0)
    model = GoogLeNet(aux_logits=True).train()
    out = model(torch.randn(2, 3, 96, 96))
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 1000)] * 3
    assert _n(_meta(GoogLeNet, kernel5=5)) > PUBLISHED_PARAMS["googlenet"]


# --- blocks ---------------------------------------------------------------------------------------

def test_basic_block_identity_and_projection_shortcuts():
    """Identity when shapes match; 1x1 stride-2 projection otherwise; params = the closed forms."""
    same = BasicBlock(64, 64)
    assert same.downsample is None
    down = BasicBlock(64, 128, stride=2)
    assert down(torch.randn(1, 64, 8, 8)).shape == (1, 128, 4, 4)
    bn = 2 * 128
    assert _n(down) == (conv2d_params(64, 128, 3, bias=False) + conv2d_params(128, 128, 3, bias=False)
                        + conv2d_params(64, 128, 1, bias=False) + 3 * bn)


def test_basic_block_equals_a_loop_twin():
    """y = relu(bn2(conv2(relu(bn1(conv1 x)))) + x), written with torch.nn.functional."""
    torch.manual_seed(0)
    block = BasicBlock(4, 4).eval()
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 4, 6, 6)
    F = torch.nn.functional

    def bn(m, t):
        return F.batch_norm(t, m.running_mean, m.running_var, m.weight, m.bias, False)

    ref = F.relu(bn(block.bn2, F.conv2d(F.relu(bn(block.bn1, F.conv2d(x, block.conv1.weight, padding=1))),
                                        block.conv2.weight, padding=1)) + x)
    torch.testing.assert_close(block(x), ref)


def test_bottleneck_widths_strides_and_resnext_budget():
    """4x expansion; stride on the 3x3 (default) or the 1x1; ResNeXt 32x4d ~ ResNet's budget."""
    b = Bottleneck(256, 64)
    assert b.downsample is None and b(torch.randn(1, 256, 8, 8)).shape == (1, 256, 8, 8)
    v15, v1 = Bottleneck(256, 128, 2), Bottleneck(256, 128, 2, stride_in_1x1=True)
    assert v15.conv2.stride == (2, 2) and v1.conv1.stride == (2, 2) and _n(v15) == _n(v1)
    assert v1(torch.randn(1, 256, 8, 8)).shape == (1, 512, 4, 4)
    resnet = Bottleneck(256, 64)
    resnext = Bottleneck(256, 64, groups=32, base_width=4)
    assert resnext.conv2.groups == 32 and resnext.conv2.in_channels == 128
    convs = lambda m: sum(c.weight.numel() for c in m.modules() if isinstance(c, nn.Conv2d))  # noqa: E731
    assert convs(resnet) == 256 * 64 + 9 * 64 * 64 + 64 * 256 == 69_632
    assert convs(resnext) == 256 * 128 + 9 * 128 * 128 // 32 + 128 * 256 == 70_144


def test_resnet_errors():
    with pytest.raises(ValueError, match="`layers`"):
        ResNet(BasicBlock, (2, 2, 2))
    with pytest.raises(ValueError, match="`config`"):
        VGG("vgg17")


def test_se_block_equals_loop_twin_and_counts():
    """x * sigmoid(W2 relu(W1 mean(x))) per channel; 2C^2/r + C/r + C parameters."""
    torch.manual_seed(0)
    se = SEBlock(32, 4)
    x = torch.randn(2, 32, 5, 5)
    out = se(x)
    for n in range(2):
        z = torch.stack([x[n, c].mean() for c in range(32)])
        s = torch.sigmoid(se.fc2.weight @ torch.relu(se.fc1.weight @ z + se.fc1.bias) + se.fc2.bias)
        for c in range(32):
            torch.testing.assert_close(out[n, c], x[n, c] * s[c])
    assert _n(se) == 2 * 32 * 32 // 4 + 32 // 4 + 32
    with pytest.raises(ValueError, match="`reduction`"):
        SEBlock(30, 4)
    se_resnet = _meta(resnet50, se_reduction=16)
    assert _n(se_resnet) > PUBLISHED_PARAMS["resnet50"]


def test_depthwise_separable_cost_ratio():
    """MACs of depthwise + pointwise = (1/C_out + 1/9) of a standard 3x3 conv (seed 003)."""
    block = DepthwiseSeparable(32, 64)
    x = torch.zeros(1, 32, 14, 14)
    sep = layer_costs(block, x).total_macs
    std = layer_costs(nn.Conv2d(32, 64, 3, padding=1), x).total_macs
    assert sep * 9 * 64 == std * (9 + 64)
    assert block(torch.randn(1, 32, 14, 14)).shape == (1, 64, 14, 14)
    assert DepthwiseSeparable(8, 16, stride=2)(torch.randn(1, 8, 9, 9)).shape == (1, 16, 5, 5)


def test_channel_shuffle_equals_loop_twin():
    """Output channel i*g + j is input channel j*(C/g) + i; C = 6, g = 3 -> 0 2 4 1 3 5."""
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]
    y = torch.randn(2, 12, 3, 4)
    g, per = 4, 3
    ref = torch.empty_like(y)
    for j in range(g):
        for i in range(per):
            ref[:, i * g + j] = y[:, j * per + i]
    torch.testing.assert_close(channel_shuffle(y, g), ref)
    with pytest.raises(ValueError, match="`groups`"):
        channel_shuffle(y, 5)


def test_dense_block_concatenates():
    """C_in + L*k channels, and the block's first C_in output channels are its input."""
    block = DenseBlock(16, num_layers=3, growth=8, bn_size=2).eval()
    x = torch.randn(1, 16, 5, 5)
    y = block(x)
    assert y.shape == (1, 16 + 3 * 8, 5, 5) == (1, block.out_channels, 5, 5)
    torch.testing.assert_close(y[:, :16], x)
    torch.testing.assert_close(y[:, 16:24], block.layers[0](x))


def test_inverted_residual_and_mobilefacenet_table():
    """Residual only with stride 1 and equal channels; every MobileFaceNet row's output = next row's input."""
    assert InvertedResidual(32, 32, 1, 6).use_res_connect and not InvertedResidual(32, 64, 1, 6).use_res_connect
    assert not InvertedResidual(32, 32, 2, 6).use_res_connect
    model = MobileFaceNet().eval()
    x = torch.randn(1, 3, 112, 112)
    with torch.no_grad():
        for row, (size, c_in, *_), nxt in zip(model.rows, MOBILEFACENET_TABLE, MOBILEFACENET_TABLE[1:] + [None]):
            assert x.shape[1:] == (c_in, size, size)
            x = row(x)
            if nxt is not None:
                assert x.shape[1:] == (nxt[1], nxt[0], nxt[0])
    assert x.shape == (1, 128, 1, 1)
    assert _n(model) * 4 < 4e6   # "Model size < 4MB" in float32


# --- torchvision itself, when it imports -------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_same_state_dict_and_outputs_as_torchvision(name):
    tv = torchvision_or_skip()
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    theirs = getattr(tv.models, name)(weights=None, **kwargs).eval()
    ours = BUILDERS[name]().eval()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_blocks_follow_the_device(device):
    """Every block gives the CPU result on each available device (tolerance by device)."""
    from cnncourse.costs import InceptionSpec
    from cnncourse.models import InceptionModule
    torch.manual_seed(0)
    blocks = [BasicBlock(8, 16, 2), Bottleneck(16, 4, groups=2, base_width=32, se_reduction=4), SEBlock(8, 2),
              DepthwiseSeparable(8, 12), InceptionModule(8, InceptionSpec(4, 6, 2, 3, 2, 2)),
              InvertedResidual(8, 8, 1, 6), DenseBlock(8, 2, growth=4, bn_size=2)]
    tol = dict(atol=1e-4, rtol=1e-3) if device != "cpu" else dict(atol=0, rtol=0)
    for block in blocks:
        block.eval()
        c_in = 16 if isinstance(block, Bottleneck) else 8
        x = torch.randn(2, c_in, 6, 6)
        with torch.no_grad():
            ref = block(x)
            out = block.to(device)(x.to(device))
        assert out.device.type == torch.device(device).type
        torch.testing.assert_close(out.cpu(), ref, **tol)
    y = torch.randn(1, 6, 2, 2)
    assert torch.equal(channel_shuffle(y.to(device), 3).cpu(), channel_shuffle(y, 3))
