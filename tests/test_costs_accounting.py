"""Cost accounting (lecture 05): closed forms, the hook walker and the slides' tables.

Oracles: ``sum(p.numel())`` of real modules, ``torch.utils.flop_counter.FlopCounterMode``, shapes
of a plain forward pass, and the numbers printed on the slides (copied in below).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnncourse.costs import (InceptionSpec, conv2d_macs, conv2d_params, depthwise_conv_mults,
                             format_architecture, format_cost_table, format_memory_lines, human,
                             inception_ops, layer_costs, linear_macs, linear_params,
                             pointwise_conv_mults, standard_conv_mults)
from cnncourse.models import AlexNetSlide, InceptionModule, vgg16


def torch_flops(model: nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()


# --- closed forms -------------------------------------------------------------------------------

@pytest.mark.parametrize("c_in,c_out,k,groups,bias", [(3, 96, 11, 1, True), (3, 96, 11, 1, False),
                                                      (8, 12, (3, 5), 4, True), (16, 16, 3, 16, False)])
def test_conv2d_params_equals_numel_of_a_real_conv(c_in, c_out, k, groups, bias):
    """Is the closed form the number of elements of torch's conv weight and bias?"""
    conv = nn.Conv2d(c_in, c_out, k, groups=groups, bias=bias)
    assert conv2d_params(c_in, c_out, k, groups=groups, bias=bias) == sum(p.numel() for p in conv.parameters())


@pytest.mark.parametrize("c_in,c_out,k,stride,pad,groups", [(3, 5, 3, 1, 1, 1), (6, 9, (3, 2), 2, 0, 3),
                                                            (8, 8, 5, 1, 2, 8)])
def test_conv2d_macs_equals_flop_counter_over_two(c_in, c_out, k, stride, pad, groups):
    """Does conv2d_macs charge what FlopCounterMode counts (FLOPs = 2 MACs)?"""
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, groups=groups)
    x = torch.zeros(2, c_in, 11, 13)
    y = conv(x)
    macs = 2 * conv2d_macs(y.shape[2], y.shape[3], c_in, c_out, k, groups=groups)
    assert 2 * macs == torch_flops(conv, x)


def test_linear_formulas():
    """Linear params and MACs against a real nn.Linear and FlopCounterMode."""
    fc = nn.Linear(25088, 4096)
    assert linear_params(25088, 4096) == sum(p.numel() for p in fc.parameters())
    assert linear_params(4096, 1000, bias=False) == 4_096_000   # VGG slide, last FC
    assert 2 * linear_macs(7, 5) == torch_flops(nn.Linear(7, 5), torch.zeros(1, 7))


def test_mobilenet_formulas_are_the_seed_products():
    """Seed 003's three formulas, written out, and 1x1 is 9 times cheaper than 3x3."""
    kh, kw, h, w, ci, co = 3, 3, 14, 14, 32, 64
    assert standard_conv_mults(kh, kw, h, w, ci, co) == kh * kw * h * w * ci * co
    assert depthwise_conv_mults(kh, kw, h, w, ci) == kh * kw * h * w * ci
    assert pointwise_conv_mults(h, w, ci, co) == h * w * ci * co
    assert standard_conv_mults(3, 3, h, w, ci, co) == 9 * pointwise_conv_mults(h, w, ci, co)
    # and a real depthwise conv costs what the formula says
    dw = nn.Conv2d(ci, ci, 3, padding=1, groups=ci)
    assert torch_flops(dw, torch.zeros(1, ci, h, w)) == 2 * depthwise_conv_mults(3, 3, h, w, ci)


def test_naive_inception_matches_the_slide():
    """28x28x256 naive module: terms 28x28x128x1x1x256 etc., 854M ops, 28x28x672 output."""
    spec = InceptionSpec(c1x1=128, c3x3=192, c5x5=96)
    terms = inception_ops(28, 28, 256, spec)
    assert [t.macs for t in terms] == [28 * 28 * 128 * 1 * 1 * 256, 28 * 28 * 192 * 3 * 3 * 256,
                                       28 * 28 * 96 * 5 * 5 * 256]
    assert sum(t.macs for t in terms) == 854_196_224 and round(sum(t.macs for t in terms) / 1e6) == 854
    assert spec.out_channels(256) == 672
    assert str(terms[1]) == "[3x3 conv, 192] 28x28x192x3x3x256 = 346,816,512"


def test_bottleneck_inception_is_271M_not_the_slides_358M():
    """With 64-channel reductions and a 64-channel pool projection: about 271M, not 358M."""
    spec = InceptionSpec(c1x1=128, c3x3=192, c5x5=96, reduce3x3=64, reduce5x5=64, pool_proj=64)
    terms = inception_ops(28, 28, 256, spec)
    hand = (28 * 28 * 128 * 256 + 28 * 28 * 64 * 256 + 28 * 28 * 192 * 9 * 64 + 28 * 28 * 64 * 256
            + 28 * 28 * 96 * 25 * 64 + 28 * 28 * 64 * 256)
    assert sum(t.macs for t in terms) == hand == 271_351_808
    assert round(hand / 1e6) != 358
    assert spec.out_channels(256) == 480
    assert [t.branch for t in terms] == ["1x1", "3x3 reduce", "3x3", "5x5 reduce", "5x5", "pool proj"]


@pytest.mark.parametrize("spec", [InceptionSpec(128, 192, 96),
                                  InceptionSpec(128, 192, 96, 64, 64, 64),
                                  InceptionSpec(64, 128, 32, 96, 16, 32, kernel5=3)])
def test_inception_formula_equals_the_module_walk_and_flop_counter(spec):
    """The closed form, the walked InceptionModule and FlopCounterMode agree (same spec object)."""
    with torch.device("meta"):
        module = InceptionModule(256, spec)
    x = torch.zeros(1, 256, 28, 28, device="meta")
    report = layer_costs(module, x)
    assert report.total_macs == sum(t.macs for t in inception_ops(28, 28, 256, spec))
    assert report.total_flops == torch_flops(module, x)
    assert module(x).shape == (1, spec.out_channels(256), 28, 28)


@pytest.mark.parametrize("call,arg", [
    (lambda: conv2d_params(4, 6, 3, groups=4), "groups"),
    (lambda: conv2d_params(0, 6, 3), "c_in"),
    (lambda: conv2d_macs(28, 28, 4, 4, 0), "kernel"),
    (lambda: conv2d_macs(0, 28, 4, 4, 3), "h_out"),
    (lambda: linear_params(3, -1), "n_out"),
])
def test_formula_errors_name_the_argument(call, arg):
    with pytest.raises(ValueError, match=f"`{arg}`"):
        call()


# --- walker --------------------------------------------------------------------------------------

class _Reuse(nn.Module):
    """Calls the same ReLU twice and ends with a grouped conv, a transposed conv and a Conv1d."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1, groups=2)
        self.relu = nn.ReLU()
        self.up = nn.ConvTranspose2d(8, 6, 2, stride=2)
        self.c1 = nn.Conv1d(6, 3, 5)
        self.fc = nn.Linear(3 * 60, 7)

    def forward(self, x):
        x = self.relu(self.up(self.relu(self.conv(x))))   # (N, 6, 2H, 2W)
        x = self.c1(x.flatten(2)[:, :, :64])             # (N, 3, 60)
        return self.fc(x.flatten(1))


def test_walker_totals_equal_numel_and_flop_counter_on_mixed_layers():
    """Params = sum(numel), FLOPs = FlopCounterMode, on grouped/transposed/1-D convs and a reused ReLU."""
    model, x = _Reuse(), torch.randn(2, 4, 4, 4)
    r = layer_costs(model, x)
    assert r.total_params == r.layer_params == sum(p.numel() for p in model.parameters())
    assert r.total_flops == torch_flops(model, x)
    names = [l.name for l in r.layers]
    assert names == ["conv", "relu", "up", "relu#2", "c1", "fc"]
    assert r.layers[3].params == 0 and r.layers[1].output_shape == (2, 8, 4, 4)
    assert r.layers[-1].output_shape == tuple(model(x).shape)


def test_walker_shapes_and_bytes_follow_a_plain_forward_pass():
    """Every VGG16 feature layer's recorded shape equals stepping through `features` by hand."""
    with torch.device("meta"):
        model = vgg16()
    x = torch.zeros(1, 3, 224, 224, device="meta")
    r = layer_costs(model, x)
    y, shapes = x, []
    for m in model.features:
        y = m(y)
        shapes.append(tuple(y.shape))
    assert [l.output_shape for l in r.layers[:len(shapes)]] == shapes
    assert all(l.activation_bytes == 4 * l.activations for l in r.layers)
    r64 = layer_costs(nn.Conv2d(1, 2, 3).double(), torch.zeros(1, 1, 5, 5, dtype=torch.float64))
    assert r64.layers[0].activation_bytes == 8 * 2 * 3 * 3 and r64.input_bytes == 8 * 25


def test_walker_restores_training_mode_and_reports_unknown_parameterised_layers():
    """Mode is restored; a Bilinear layer (operations unknown to the walker) is listed as uncounted."""
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.bil = nn.Bilinear(3, 3, 2)
            self.bn = nn.BatchNorm1d(2)

        def forward(self, x):
            return self.bn(self.bil(x, x))

    model = Odd().train()
    r = layer_costs(model, torch.randn(4, 3))
    assert model.training
    assert r.uncounted == ("Bilinear",)   # BatchNorm is known to cost 0 MACs
    assert r.total_params == sum(p.numel() for p in model.parameters())


def test_walker_errors():
    with pytest.raises(TypeError, match="`model`"):
        layer_costs(lambda x: x, torch.zeros(1))
    with pytest.raises(TypeError, match="`x`"):
        layer_costs(nn.ReLU(), [1, 2])
    r = layer_costs(nn.ReLU(), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="`types`"):
        r.select()


# --- the slides' tables ----------------------------------------------------------------------------

# Seed 004, "Case Study: VGGNet" lines, copied in as printed (INPUT and the first stages).
VGG_SLIDE_LINES = [
    "INPUT: [224x224x3] memory: 224*224*3=150K params: 0",
    "CONV3-64: [224x224x64] memory: 224*224*64=3.2M params: (3*3*3)*64 = 1,728",
    "CONV3-64: [224x224x64] memory: 224*224*64=3.2M params: (3*3*64)*64 = 36,864",
    "POOL2: [112x112x64] memory: 112*112*64=800K params: 0",
    "CONV3-128: [112x112x128] memory: 112*112*128=1.6M params: (3*3*64)*128 = 73,728",
    "CONV3-128: [112x112x128] memory: 112*112*128=1.6M params: (3*3*128)*128 = 147,456",
    "POOL2: [56x56x128] memory: 56*56*128=400K params: 0",
    "CONV3-256: [56x56x256] memory: 56*56*256=800K params: (3*3*128)*256 = 294,912",
    "CONV3-256: [56x56x256] memory: 56*56*256=800K params: (3*3*256)*256 = 589,824",
    "POOL2: [28x28x256] memory: 28*28*256=200K params: 0",
    "CONV3-512: [28x28x512] memory: 28*28*512=400K params: (3*3*256)*512 = 1,179,648",
    "CONV3-512: [28x28x512] memory: 28*28*512=400K params: (3*3*512)*512 = 2,359,296",
    "POOL2: [14x14x512] memory: 14*14*512=100K params: 0",
    "CONV3-512: [14x14x512] memory: 14*14*512=100K params: (3*3*512)*512 = 2,359,296",
    "POOL2: [7x7x512] memory: 7*7*512=25K params: 0",
    "FC: [1x1x4096] memory: 4096 params: 7*7*512*4096 = 102,760,448",
    "FC: [1x1x4096] memory: 4096 params: 4096*4096 = 16,777,216",
    "FC: [1x1x1000] memory: 1000 params: 4096*1000 = 4,096,000",
]
# Seed 004/001, "Full (simplified) AlexNet architecture", as printed.
ALEXNET_SLIDE_LINES = [
    "[227x227x3] INPUT",
    "[55x55x96] CONV1: 96 11x11 filters at stride 4, pad 0",
    "[27x27x96] MAX POOL1: 3x3 filters at stride 2",
    "[27x27x96] NORM1: Normalization layer",
    "[27x27x256] CONV2: 256 5x5 filters at stride 1, pad 2",
    "[13x13x256] MAX POOL2: 3x3 filters at stride 2",
    "[13x13x256] NORM2: Normalization layer",
    "[13x13x384] CONV3: 384 3x3 filters at stride 1, pad 1",
    "[13x13x384] CONV4: 384 3x3 filters at stride 1, pad 1",
    "[13x13x256] CONV5: 256 3x3 filters at stride 1, pad 1",
    "[6x6x256] MAX POOL3: 3x3 filters at stride 2",
    "[4096] FC6: 4096 neurons",
    "[4096] FC7: 4096 neurons",
    "[1000] FC8: 1000 neurons",
]


def _vgg_report():
    with torch.device("meta"):
        model = vgg16()
    return layer_costs(model, torch.zeros(1, 3, 224, 224, device="meta")).select("Conv2d", "MaxPool2d", "Linear")


def test_vgg16_memory_lines_contain_every_slide_line_in_order():
    """Each printed slide line is produced, in order; the computed totals are 15.2M/61MB and 138M."""
    lines = format_memory_lines(_vgg_report()).splitlines()
    it = iter(lines)
    assert all(any(s == l for l in it) for s in VGG_SLIDE_LINES)   # an in-order subsequence
    assert len(lines) == 1 + 21 + 2   # input, 13 conv + 5 pool + 3 FC, two totals
    assert lines[-2] == "TOTAL memory: 15.2M * 4 bytes ~ 61MB / image (for a forward pass)"
    assert lines[-1] == "TOTAL params: 138M parameters"


def test_vgg16_memory_total_is_15_2M_not_the_slides_24M():
    r = _vgg_report()
    elements, nbytes = r.memory()
    by_hand = (224 * 224 * 3 + 2 * 224 * 224 * 64 + 112 * 112 * 64 + 2 * 112 * 112 * 128 + 56 * 56 * 128
               + 3 * 56 * 56 * 256 + 28 * 28 * 256 + 3 * 28 * 28 * 512 + 14 * 14 * 512 + 3 * 14 * 14 * 512
               + 7 * 7 * 512 + 4096 + 4096 + 1000)
    assert elements == by_hand == 15_237_608 and nbytes == 4 * by_hand
    assert round(elements / 1e6) != 24


def test_alexnet_architecture_lines_are_the_slides():
    with torch.device("meta"):
        model = AlexNetSlide()
    r = layer_costs(model, torch.zeros(1, 3, 227, 227, device="meta"))
    text = format_architecture(r.select("Conv2d", "MaxPool2d", "LocalResponseNorm", "Linear"))
    assert text.splitlines() == ALEXNET_SLIDE_LINES
    conv1 = r.layers[0]
    assert (conv1.weights, conv1.params, conv1.weight_formula) == (34_848, 34_944, "(11*11*3)*96")
    pool1 = r.layers[2]
    assert (pool1.type, pool1.output_shape, pool1.params) == ("MaxPool2d", (1, 96, 27, 27), 0)


def test_cost_table_and_human():
    r = layer_costs(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), torch.zeros(1, 1, 5, 5))
    table = format_cost_table(r, title="tiny")
    assert table.splitlines()[0] == "tiny" and "Conv2d" in table and "20" in table and str(r) == format_cost_table(r)
    assert [human(v) for v in (150_528, 3_211_264, 802_816, 25_088, 4096, 1000)] == \
        ["150K", "3.2M", "800K", "25K", "4096", "1000"]
    assert human(15_237_608, digits=3) == "15.2M" and human(138_357_544, digits=3) == "138M"


def test_memory_lines_label_any_kernel_size():
    """An 11x11 conv is labelled CONV11-F (not from the first digit of its formula)."""
    r = layer_costs(nn.Conv2d(3, 96, 11, stride=4), torch.zeros(1, 3, 227, 227))
    assert format_memory_lines(r).splitlines()[1].startswith("CONV11-96: [55x55x96]")


def test_walker_follows_the_device(device):
    """Costs are the same on every available device (the hooks read shapes only)."""
    model = vgg16(num_classes=10).to(device) if device != "cpu" else None
    small = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16, 4)).to(device)
    r = layer_costs(small, torch.zeros(2, 3, 4, 4, device=device))
    assert r.total_flops == torch_flops(small, torch.zeros(2, 3, 4, 4, device=device))
    if model is not None:
        x = torch.zeros(1, 3, 224, 224, device=device)
        assert layer_costs(model, x).total_flops == torch_flops(model, x)
