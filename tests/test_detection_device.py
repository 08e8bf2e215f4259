"""Device hygiene: no tensor created on the default device, meta-tensor shape runs, CUDA == CPU."""

from __future__ import annotations

import functools

import pytest
import torch

import cnncourse.detection as det

FACTORIES = ["zeros", "ones", "empty", "full", "arange", "tensor", "as_tensor", "linspace", "eye", "rand", "randn"]


@pytest.fixture
def strict_factories(monkeypatch):
    """Make torch factory functions fail when called without an explicit device=."""
    for name in FACTORIES:
        original = getattr(torch, name)

        @functools.wraps(original)
        def wrapper(*args, __original=original, __name=name, **kwargs):
            if "device" not in kwargs:
                raise AssertionError(f"torch.{__name} called without device=")
            return __original(*args, **kwargs)

        monkeypatch.setattr(torch, name, wrapper)


def _inputs(device="cpu", dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(30, 2, generator=g, dtype=dtype, device="cpu") * 50
    boxes = torch.cat([xy, xy + torch.rand(30, 2, generator=g, dtype=dtype, device="cpu") * 30 + 1], 1).to(device)
    scores = torch.rand(30, generator=g, dtype=dtype, device="cpu").to(device)
    labels = (torch.rand(30, generator=g, device="cpu") * 3).long().to(device)
    x = torch.randn(2, 3, 9, 10, generator=g, dtype=dtype, device="cpu").to(device)
    rois = torch.cat([labels[:, None].to(dtype).clamp(max=1), boxes / 6], 1)
    return boxes, scores, labels, x, rois


def _run_all(device):
    """Every torch function of the package on ``device``; returns the outputs."""
    boxes, scores, labels, x, rois = _inputs(device)
    t = det.yolo_encode(boxes[:5], labels[:5], image_size=(100.0, 100.0), C=3)
    return {
        "convert": det.box_convert(boxes, "xyxy", "cxcywh"),
        "area": det.box_area(boxes),
        "iou": det.box_iou(boxes, boxes[:7]),
        "giou": det.generalized_box_iou(boxes, boxes[:7]),
        "clip": det.clip_boxes(boxes, (40, 40)),
        "nms": det.nms(boxes, scores, 0.3),
        "batched_nms": det.batched_nms(boxes, scores, labels, 0.3),
        "encode": det.encode_boxes(boxes, boxes.flip(0)),
        "decode": det.decode_boxes(det.encode_boxes(boxes, boxes.flip(0)), boxes.flip(0)),
        "anchors": det.make_anchors((3, 4), 8, device=device, dtype=torch.float64),
        "match": det.match_anchors(boxes, boxes[:4] + 1),
        "roi_pool": det.roi_pool(x, rois, (2, 3)),
        "roi_align": det.roi_align(x, rois, (2, 3), spatial_scale=0.7),
        "yolo_encode": t,
        "yolo_decode": det.yolo_decode(t, image_size=(100.0, 100.0), C=3)[0],
        "yolo_loss": det.yolo_loss(t[None] * 0.9, t[None], C=3),
        "pr": det.precision_recall(scores, scores > 0.5, 20)[0],
        "voc_ap": det.voc_ap(*det.precision_recall(scores, scores > 0.5, 20)[::-1], use_07_metric=True),
        "voc_ap_all": det.voc_ap(*det.precision_recall(scores, scores > 0.5, 20)[::-1]),
        "envelope": det.precision_envelope(*det.precision_recall(scores, scores > 0.5, 20)[::-1])[1],
        "eleven": det.eleven_point_precision(*det.precision_recall(scores, scores > 0.5, 20)[::-1]),
        "match": det.match_detections(boxes, scores, boxes[:6] + 0.5),
    }


def test_no_tensor_is_created_without_a_device(strict_factories):
    """Would any function put a new tensor on the default device instead of the input's?"""
    out = _run_all("cpu")
    assert all(v.device.type == "cpu" for v in out.values())


def test_shape_only_runs_on_meta_tensors():
    """Value-free ops run on 'meta' tensors: any tensor made on another device would clash."""
    m = torch.empty(6, 4, device="meta", dtype=torch.float32)
    assert det.box_iou(m, m[:2]).device.type == "meta"
    assert det.box_convert(m, "xyxy", "xywh").device.type == "meta"
    assert det.generalized_box_iou(m, m).shape == (6, 6)
    assert det.decode_boxes(m, m, weights=(10, 10, 5, 5)).device.type == "meta"
    assert det.encode_boxes(m, m).device.type == "meta"
    assert det.make_anchors(4, 16, device="meta").device.type == "meta"
    x = torch.empty(2, 3, 8, 8, device="meta")
    rois = torch.empty(5, 5, device="meta")
    assert det.roi_align(x, rois, 2, sampling_ratio=2).shape == (5, 3, 2, 2)
    assert det.roi_pool(x, rois, 2).device.type == "meta"
    pred = torch.empty(3, 7, 7, 30, device="meta")
    assert det.yolo_decode(pred, image_size=(448, 448))[2].shape == (3, 98, 20)
    assert det.yolo_loss(pred, pred).device.type == "meta"


@pytest.mark.cuda
def test_cuda_matches_cpu():
    """Every function gives the CPU result, on the GPU."""
    cpu, gpu = _run_all("cpu"), _run_all("cuda")
    for name in cpu:
        assert gpu[name].device.type == "cuda", name
        torch.testing.assert_close(gpu[name].cpu(), cpu[name], msg=name)
