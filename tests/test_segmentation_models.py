"""FCN (any input size, skips), pyramid pooling, sliding window vs FCN, Mask R-CNN targets, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnncourse.pyramid import adaptive_pool2d_forward
from cnncourse.segmentation import (FCN, PyramidPooling, conv_macs, evaluate_segmentation, mask_targets,
                                    paste_masks, patch_classifier, predict, shapes_segmentation_data,
                                    sliding_window_segment, train_segmentation)


@pytest.mark.parametrize("skips", [True, False])
def test_fcn_accepts_any_input_size(skips, device):
    """Does one FCN map (N, 3, H, W) to (N, K, H, W) for even, odd and non-square sizes?"""
    torch.manual_seed(0)
    net = FCN(num_classes=5, width=4, depth=3, skips=skips).to(device).eval()
    for h, w in [(32, 32), (37, 21), (4, 9)]:
        assert net(torch.randn(2, 3, h, w, device=device)).shape == (2, 5, h, w)
    with pytest.raises(ValueError, match="`x`"):
        net(torch.randn(1, 3, 3, 8, device=device))


def test_fcn_without_skips_everything_passes_the_bottleneck():
    """Cut the upsampling path (zero transposed convs): with skips the output still depends on the
    image, without skips it is the same for every image."""
    a, b = FCN(width=4, depth=3, skips=True), FCN(width=4, depth=3, skips=False)
    assert a.decoder[0][0].in_channels == 2 * b.decoder[0][0].in_channels
    x = torch.randn(2, 3, 16, 16)
    for net in (a, b):
        for up in net.up:
            nn.init.zeros_(up.weight)
            nn.init.zeros_(up.bias)
        net.eval()
    assert not torch.allclose(a(x)[0], a(x)[1])
    torch.testing.assert_close(b(x)[0], b(x)[1])


def test_pyramid_pooling_matches_adaptive_pooling():
    """Are the pooled maps lecture 03's adaptive average pools, and the bin-1 branch a global mean?"""
    torch.manual_seed(0)
    psp = PyramidPooling(8, bins=(1, 2, 3, 6), batch_norm=False)
    x = torch.randn(2, 8, 13, 11, dtype=torch.float64)
    psp = psp.double()
    for b, p in zip(psp.bins, psp.pooled(x)):
        ref, _ = adaptive_pool2d_forward(x.numpy(), b, "avg")
        np.testing.assert_allclose(p.numpy(), ref, rtol=1e-12)
    out = psp(x)
    assert out.shape == (2, 8 + 4 * 2, 13, 11)
    torch.testing.assert_close(out[:, :8], x)
    conv = psp.reduce[0]
    glob = conv(x.mean((2, 3), keepdim=True))            # 1x1 level: one value per channel, everywhere
    torch.testing.assert_close(out[:, 8:10], glob.expand(-1, -1, 13, 11))
    with pytest.raises(ValueError, match="`bins`"):
        PyramidPooling(8, bins=())


def test_sliding_window_equals_one_fully_convolutional_pass():
    """Does classifying H*W patches equal one pass of the valid-conv net on the mirror-padded image?"""
    torch.manual_seed(0)
    net = patch_classifier(3, 4, window=7, width=6).double()
    img = torch.rand(1, 3, 12, 10, dtype=torch.float64)
    slow = sliding_window_segment(net, img, 7, batch_size=50)
    fast = net(torch.nn.functional.pad(img, (3, 3, 3, 3), mode="reflect"))
    assert slow.shape == fast.shape == (1, 4, 12, 10)
    torch.testing.assert_close(slow, fast)
    assert conv_macs(net, (120, 3, 7, 7)) > 5 * conv_macs(net, (1, 3, 18, 16))
    with pytest.raises(ValueError, match="`window`"):
        sliding_window_segment(net, img, 6)


def test_conv_macs_counts_by_hand():
    """Conv: out * Cin * k*k; transposed conv: in * Cout * k*k; linear: out * in_features."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ConvTranspose2d(4, 2, 2, stride=2), nn.Flatten(),
                        nn.Linear(2 * 16 * 16, 5))
    assert conv_macs(net, (1, 3, 8, 8)) == 4 * 64 * 3 * 9 + 4 * 64 * 2 * 4 + 5 * 512


def _slow_paste(probs, box, h, w):
    """Per-pixel bilinear read of an M x M mask (border-clamped) for pixel centres inside the box."""
    m = probs.shape[0]
    x1, y1, x2, y2 = box
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            if not (x1 <= x + 0.5 <= x2 and y1 <= y + 0.5 <= y2):
                continue
            fx = np.clip((x + 0.5 - x1) / (x2 - x1) * m - 0.5, 0, m - 1)
            fy = np.clip((y + 0.5 - y1) / (y2 - y1) * m - 0.5, 0, m - 1)
            i0, j0 = int(np.floor(fy)), int(np.floor(fx))
            i1, j1 = min(i0 + 1, m - 1), min(j0 + 1, m - 1)
            ay, ax = fy - i0, fx - j0
            out[y, x] = ((1 - ay) * ((1 - ax) * probs[i0, j0] + ax * probs[i0, j1])
                         + ay * ((1 - ax) * probs[i1, j0] + ax * probs[i1, j1]))
    return out


def test_paste_masks_matches_a_loop(rng):
    """Is pasting a bilinear read of the mask at pixel centres inside the box (loop twin)?"""
    probs = torch.tensor(rng.random((2, 5, 5)), dtype=torch.float32)
    boxes = torch.tensor([[2.0, 1.0, 9.5, 7.0], [0.0, 0.0, 12.0, 10.0]])
    pasted = paste_masks(probs, boxes, (10, 12), threshold=None)
    for k in range(2):
        np.testing.assert_allclose(pasted[k].numpy(), _slow_paste(probs[k].numpy(), boxes[k].tolist(), 10, 12),
                                   atol=1e-5)


def test_mask_targets_round_trip_on_shapes():
    """28x28 targets of ShapesDataset instances pasted back recover the masks (IoU > 0.85 each)."""
    from cnncourse.data import ShapesDataset
    s = ShapesDataset(4, image_size=64, seed=5)
    for i in range(4):
        sample = s[i]
        masks, boxes = torch.from_numpy(sample["masks"]), torch.from_numpy(sample["boxes"])
        targets = mask_targets(masks, boxes, 28)
        assert targets.shape == (len(boxes), 28, 28) and 0 <= targets.min() and targets.max() <= 1
        back = paste_masks(targets, boxes, (64, 64))
        inter = (back & masks).sum((1, 2)).float()
        union = (back | masks).sum((1, 2)).float()
        assert (inter / union > 0.85).all(), inter / union
    with pytest.raises(ValueError, match="`boxes`"):
        mask_targets(masks, boxes[:, :3])
    with pytest.raises(ValueError, match="`boxes`"):
        paste_masks(targets, torch.tensor([[5.0, 5.0, 5.0, 9.0]] * len(targets)), 64)


def test_training_helper_learns_foreground():
    """Does a short run lower the loss and beat chance on a held-out split (binary masks, a few s)?"""
    torch.manual_seed(0)
    x, y = shapes_segmentation_data(200, image_size=16, seed=0)
    xv, yv = shapes_segmentation_data(50, image_size=16, seed=1)
    net = FCN(num_classes=2, width=4, depth=2)
    hist = train_segmentation(net, x, (y > 0).long(), steps=40, batch_size=16, lr=1e-2, dice_weight=0.5)
    assert hist["steps"] == 40 and np.mean(hist["losses"][-5:]) < np.mean(hist["losses"][:5])
    scores = evaluate_segmentation(net, xv, (yv > 0).long(), num_classes=2)
    assert scores["mean_iou"] > 0.6 and scores["pred"].shape == yv.shape
    assert predict(net, xv[:3]).dtype == torch.int64
    with pytest.raises(ValueError, match="`masks`"):
        train_segmentation(net, x, y[:, :8])


def test_show_labels_draws_one_colour_per_class():
    """Does the label map use colour c for class c (with first_label), with one legend entry each?"""
    import matplotlib
    matplotlib.use("Agg")
    from cnncourse.segmentation import label_colormap, show_labels
    grid = np.array([[1, 2], [5, 3]])
    ax = show_labels(grid, class_names=["a", "b", "c", "d", "e"], first_label=1)
    img = ax.images[0]
    cmap = label_colormap(5)
    np.testing.assert_allclose(img.to_rgba(img.get_array())[1, 0], cmap(4))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["1: a", "2: b", "3: c", "4: d", "5: e"]
    with pytest.raises(ValueError, match="`labels`"):
        show_labels(grid, class_names=["a", "b"])
