"""Output-size formula and the receptive-field table of lecture 3 (numbers copied from the slides)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnncourse.arithmetic import (
    ReceptiveFieldRow, conv_output_size, format_receptive_field_table, receptive_field,
)

# Lecture 3, "Convolutional Algorithms - Receptive field": the 8-layer table, copied in.
# Columns: kernel, stride, dilation, padding (AS PRINTED), input size, output size, receptive field.
SLIDE_TABLE = [
    (3, 1, 1, 2, 256, 256, 3),
    (3, 2, 1, 1, 256, 128, 5),
    (3, 1, 1, 2, 128, 128, 9),
    (3, 1, 1, 2, 128, 128, 13),
    (3, 2, 1, 1, 128, 64, 17),
    (3, 1, 1, 2, 64, 64, 25),
    (3, 1, 1, 2, 64, 64, 33),
    (3, 2, 1, 1, 64, 32, 41),
]


def test_receptive_field_reproduces_slide_table_with_padding_1():
    """RFs 3..41 and sizes 256 -> 32, once the slide's padding 2 (stride-1 rows) is corrected to 1."""
    layers = [dict(name=f"conv{i + 1}", kernel=k, stride=s, dilation=d, padding=1)
              for i, (k, s, d, _, _, _, _) in enumerate(SLIDE_TABLE)]
    rows = receptive_field(layers, input_size=256)
    assert [r.receptive_field for r in rows] == [3, 5, 9, 13, 17, 25, 33, 41]
    assert [r.input_size for r in rows] == [row[4] for row in SLIDE_TABLE]
    assert [r.output_size for r in rows] == [row[5] for row in SLIDE_TABLE]
    assert [r.jump for r in rows] == [1, 2, 2, 2, 4, 4, 4, 8]
    assert rows[0] == ReceptiveFieldRow("conv1", 3, 1, 1, 1, 256, 256, 3, 1)


def test_slide_padding_column_is_inconsistent_with_its_sizes():
    """The slide prints padding 2 on stride-1 3x3 layers; that would grow 256 to 258, not keep 256."""
    layers = [dict(kernel=k, stride=s, dilation=d, padding=p) for k, s, d, p, *_ in SLIDE_TABLE]
    rows = receptive_field(layers, input_size=256)
    assert rows[0].output_size == 258 != SLIDE_TABLE[0][5]
    # the receptive field does not depend on padding: those numbers still match
    assert [r.receptive_field for r in rows] == [row[6] for row in SLIDE_TABLE]


def test_receptive_field_sizes_match_torch_and_dilation():
    """Sizes equal a real torch conv stack; dilation 2 turns a 3x3 into a 5x5 receptive field (slide)."""
    layers = [dict(kernel=3, stride=2, padding=1), dict(kernel=3, dilation=2, padding=2), dict(kernel=2, stride=2)]
    rows = receptive_field(layers, input_size=37)
    x = torch.zeros(1, 1, 37, 37)
    for spec in layers:
        x = torch.nn.functional.conv2d(x, torch.zeros(1, 1, spec["kernel"], spec["kernel"]),
                                       stride=spec.get("stride", 1), padding=spec.get("padding", 0),
                                       dilation=spec.get("dilation", 1))
    assert rows[-1].output_size == x.shape[-1] == 9
    assert receptive_field([dict(kernel=3, dilation=2)])[0].receptive_field == 5
    assert [r.receptive_field for r in rows] == [3, 3 + 4 * 2, 11 + 1 * 2]
    assert receptive_field([(3, 2), (3,)])[1].receptive_field == 7   # tuples (kernel, stride, ...)
    assert rows[0].input_size == 37 and receptive_field(layers)[0].input_size is None


def test_conv_output_size_formula_and_stride_error():
    """The slide's examples: N=7, F=3 gives 5 (S=1) and 3 (S=2); S=3 gives 2.33, an error unless floor."""
    assert conv_output_size(7, 3, 1) == 5 and conv_output_size(7, 3, 2) == 3
    assert conv_output_size(7, 3, 1, padding=1) == 7
    assert conv_output_size(32, 5, 1, padding=2) == 32 and conv_output_size(7, 3, dilation=2) == 3
    with pytest.raises(ValueError, match=r"`stride` expected a stride dividing .* got 3: output size would be 2.33"):
        conv_output_size(7, 3, stride=3)
    assert conv_output_size(7, 3, stride=3, floor=True) == 2
    for n, k, s, p, d in np.random.default_rng(0).integers(1, 6, size=(50, 5)):
        if n + 2 * p >= d * (k - 1) + 1:
            ref = torch.nn.functional.conv2d(torch.zeros(1, 1, int(n), 1), torch.zeros(1, 1, int(k), 1),
                                             stride=int(s), padding=(int(p), 0), dilation=(int(d), 1)).shape[2]
            assert conv_output_size(int(n), int(k), int(s), int(p), int(d), floor=True) == ref


def test_arithmetic_errors_and_table_format():
    with pytest.raises(ValueError, match=r"`kernel` expected an effective kernel D\(F-1\)\+1 <= padded size 4"):
        conv_output_size(4, 5)
    with pytest.raises(ValueError, match=r"`stride` expected an integer >= 1, got 0"):
        conv_output_size(4, 3, stride=0)
    with pytest.raises(ValueError, match=r"`padding` expected an integer >= 0, got -1"):
        conv_output_size(4, 3, padding=-1)
    with pytest.raises(ValueError, match=r"`layers\[0\]` expected a dict with a 'kernel' key"):
        receptive_field([dict(stride=2)])
    with pytest.raises(ValueError, match=r"`stride` expected a stride dividing"):
        receptive_field([dict(kernel=3, stride=2, padding=1)], input_size=256, floor=False)
    text = format_receptive_field_table(receptive_field([dict(kernel=3, name="c1")], 8))
    assert text.splitlines()[0].split() == ["Layer", "Kernel", "Stride", "Dilation", "Padding", "Input",
                                            "Output", "RF", "Jump"]
    assert text.splitlines()[1].split() == ["c1", "3", "1", "1", "0", "8", "6", "3", "1"]


def test_conv_output_size_ceil_mode_matches_torch_pooling():
    """Does ceil_mode round up and drop a last window starting in the right padding, as torch's pools do?"""
    assert conv_output_size(5, 2, stride=2, ceil_mode=True) == 3          # 1 2 | 3 4 | 5
    assert conv_output_size(3, 2, 2, padding=1, ceil_mode=True) == 2       # a third window would start in padding
    assert conv_output_size(2, 3, 2, ceil_mode=True) == 1                  # kernel 3 > input 2: one window
    checked = 0
    for n, k, s, p, d in np.random.default_rng(1).integers(1, 6, size=(300, 5)):
        n, k, s, p, d = int(n), int(k), int(s), int(p) % (k // 2 + 1), int(d)   # torch: padding <= k/2
        try:
            ref = torch.nn.functional.max_pool2d(torch.zeros(1, 1, n, 1), (k, 1), (s, 1), (p, 0), (d, 1),
                                                 ceil_mode=True).shape[2]
        except RuntimeError:   # torch: "Output size is too small"
            ref = None
        if ref is None:
            with pytest.raises(ValueError, match=r"`kernel` expected an effective kernel .* with ceil_mode"):
                conv_output_size(n, k, s, p, d, ceil_mode=True)
        else:
            assert conv_output_size(n, k, s, p, d, ceil_mode=True) == ref, (n, k, s, p, d)
            checked += 1
    assert checked > 100
    with pytest.raises(ValueError, match=r"`ceil_mode` expected False when floor=True"):
        conv_output_size(7, 3, floor=True, ceil_mode=True)
