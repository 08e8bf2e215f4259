"""Seeded randomized test cases, so hard-coding a visible example cannot pass.

Each generator yields :class:`Case` objects: plain dicts of keyword arguments that can be passed
straight to the student's forward function and to the reference (``fn(**case)``), plus a ``label``
attribute describing what the case exercises ("stride does not divide", "batch of 1", ...) and a
``dout`` attribute (upstream gradient shaped like the output) for backward passes. The first cases
of every generator cover the edge categories in a fixed order; the rest are random. Sizes are kept
small so that naive Python loops finish quickly on two CPU cores.

Same ``seed`` and ``n`` give the same cases (numpy ``default_rng``); arrays are float64 unless
``dtype`` says otherwise. Output sizes come from lecture 02's formula,
:func:`cnncourse.arithmetic.conv_output_size` (floored, as torch does).
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

from cnncourse.arithmetic import conv_output_size

__all__ = ["Case", "conv_cases", "pool_cases", "batchnorm_cases", "pad_cases",
           "output_size_cases"]


class Case(dict):
    """Keyword arguments of the forward call, plus ``label`` and (for backward) ``dout``.

    ``dout`` (the upstream gradient, shaped like the forward output) is an attribute, not a key,
    so that ``forward(**case)`` works unchanged.
    """

    def __init__(self, label: str, dout: np.ndarray | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.label = label
        self.dout = dout

    def __repr__(self) -> str:
        shapes = {k: (v.shape if isinstance(v, np.ndarray) else v) for k, v in self.items()}
        return f"Case({self.label!r}, {shapes})"

    def inputs(self, *keys: str) -> "Case":
        """A copy restricted to ``keys`` (for a student function taking fewer arguments)."""
        return Case(self.label, self.dout, **{k: self[k] for k in keys if k in self})


def _out_hw(hw: Sequence[int], kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int],
            dilation: Sequence[int] = (1, 1)) -> tuple[int, ...]:
    """``(H_out, W_out)`` by torch's floor rule; ValueError when the kernel does not fit."""
    return tuple(conv_output_size(*args, floor=True) for args in zip(hw, kernel, stride, padding, dilation))


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"`n` expected an integer >= 1, got {n!r}")
    return int(n)


# ---------------------------------------------------------------------------- convolution
_CONV_EDGES = (
    # label, (N, C, H, W), (F, KH, KW), stride, padding, dilation, bias
    ("stride does not divide", (2, 2, 7, 7), (3, 3, 3), (3, 3), (0, 0), (1, 1), True),
    ("non-square input and kernel", (2, 3, 5, 8), (2, 3, 2), (1, 1), (1, 0), (1, 1), True),
    ("batch of 1, padding 2", (1, 2, 6, 5), (4, 3, 3), (2, 2), (2, 2), (1, 1), True),
    ("dilation 2, non-square stride", (2, 2, 9, 8), (2, 2, 3), (2, 1), (1, 1), (2, 2), True),
    ("1x1 kernel, no bias", (3, 4, 4, 5), (2, 1, 1), (1, 1), (0, 0), (1, 1), False),
)


def _conv_case(rng: np.random.Generator, label: str, xs, ks, stride, padding, dilation, bias,
               dtype) -> Case:
    n, c, h, w = xs
    f, kh, kw = ks
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if bias else None
    ho, wo = _out_hw((h, w), (kh, kw), stride, padding, dilation)
    dout = rng.standard_normal((n, f, ho, wo)).astype(dtype)
    return Case(label, x=x, w=wt, b=b, stride=stride, padding=padding, dilation=dilation,
                dout=dout)


def conv_cases(seed: int, n: int = 6, *, dtype: Any = np.float64,
               max_size: int = 9) -> Iterator[Case]:
    """Cases for ``conv2d_forward(x, w, b, stride, padding, dilation)`` and its backward.

    Keys: ``x`` (N, C, H, W), ``w`` (F, C, KH, KW), ``b`` (F,) or None, ``stride``, ``padding``,
    ``dilation`` as ``(h, w)`` pairs; ``case.dout`` is (N, F, H_out, W_out) for the backward pass.
    """
    rng = np.random.default_rng(seed)
    for i in range(_check_n(n)):
        if i < len(_CONV_EDGES):
            yield _conv_case(rng, *_CONV_EDGES[i], dtype=dtype)
            continue
        while True:
            kh, kw = rng.integers(1, 5, size=2)
            stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
            padding = tuple(int(p) for p in rng.integers(0, 3, size=2))
            dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
            h, w = (int(s) for s in rng.integers(3, max_size + 1, size=2))
            try:
                _out_hw((h, w), (kh, kw), stride, padding, dilation)
                break
            except ValueError:   # the dilated kernel does not fit the padded input: draw again
                continue
        xs = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), h, w)
        ks = (int(rng.integers(1, 5)), int(kh), int(kw))
        yield _conv_case(rng, "random", xs, ks, stride, padding, dilation,
                         bool(rng.integers(0, 2)), dtype)


# ---------------------------------------------------------------------------- pooling
_POOL_EDGES = (
    # label, (N, C, H, W), kernel, stride, padding, ties
    ("overlapping windows (stride < kernel)", (2, 2, 6, 6), (3, 3), (2, 2), (0, 0), False),
    ("ties inside windows", (2, 3, 6, 6), (2, 2), (2, 2), (0, 0), True),
    ("overlapping windows with ties", (1, 2, 7, 7), (3, 3), (1, 1), (0, 0), True),
    ("stride does not divide, non-square", (2, 2, 7, 6), (2, 3), (3, 2), (0, 0), False),
    ("batch of 1, non-square kernel", (1, 3, 5, 8), (3, 2), (1, 2), (0, 0), False),
)


def _pool_case(rng, label, xs, kernel, stride, padding, ties, dtype) -> Case:
    if ties:
        x = rng.integers(0, 3, size=xs).astype(dtype)  # few distinct values: many ties
    else:
        x = rng.standard_normal(xs).astype(dtype)
    ho, wo = _out_hw(xs[2:], kernel, stride, padding)
    dout = rng.standard_normal((xs[0], xs[1], ho, wo)).astype(dtype)
    return Case(label, x=x, kernel_size=kernel, stride=stride, dout=dout)


def pool_cases(seed: int, n: int = 6, *, dtype: Any = np.float64, ties: bool | None = None,
               max_size: int = 9) -> Iterator[Case]:
    """Cases for ``max_pool2d_forward`` / ``avg_pool2d_forward(x, kernel_size, stride)``.

    Keys: ``x`` (N, C, H, W), ``kernel_size`` and ``stride`` as pairs; ``case.dout`` is
    (N, C, H_out, W_out). ``ties=None`` mixes cases with and without ties; True/False forces one kind.
    """
    rng = np.random.default_rng(seed)
    edges = [e for e in _POOL_EDGES if ties is None or e[5] == ties]
    for i in range(_check_n(n)):
        if i < len(edges):
            yield _pool_case(rng, *edges[i], dtype=dtype)
            continue
        kernel = tuple(int(k) for k in rng.integers(1, 4, size=2))
        stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
        h, w = (int(s) for s in rng.integers(max(kernel) + 1, max_size + 1, size=2))
        xs = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), h, w)
        tie = bool(rng.integers(0, 2)) if ties is None else ties
        yield _pool_case(rng, "random" + (" with ties" if tie else ""), xs, kernel, stride,
                         (0, 0), tie, dtype)


# ---------------------------------------------------------------------------- batchnorm
def batchnorm_cases(seed: int, n: int = 4, *, dtype: Any = np.float64) -> Iterator[Case]:
    """Cases for ``batchnorm_forward(x, gamma, beta, running_mean, running_var, training, ...)``.

    Alternates 4-D ``(N, C, H, W)`` and 2-D ``(N, D)`` inputs and training/eval mode; the first
    case has a batch of 2 (the smallest that defines a variance) and a large offset/scale.
    """
    rng = np.random.default_rng(seed)
    for i in range(_check_n(n)):
        c = int(rng.integers(1, 5))
        shape = ((2 if i == 0 else int(rng.integers(2, 5)), c, int(rng.integers(1, 5)),
                  int(rng.integers(1, 5))) if i % 2 == 0 else (int(rng.integers(2, 8)), c))
        offset, scale = (50.0, 10.0) if i == 0 else (rng.normal(), rng.uniform(0.5, 3))
        x = (offset + scale * rng.standard_normal(shape)).astype(dtype)
        training = i % 4 != 3
        yield Case(("training" if training else "eval") + f" {len(shape)}-D",
                   x=x, gamma=rng.uniform(0.5, 2, c).astype(dtype),
                   beta=rng.standard_normal(c).astype(dtype),
                   running_mean=rng.standard_normal(c).astype(dtype),
                   running_var=rng.uniform(0.5, 2, c).astype(dtype),
                   training=training, momentum=float(rng.choice([0.1, 0.3])), eps=1e-5,
                   dout=rng.standard_normal(shape).astype(dtype))


# ---------------------------------------------------------------------------- small exercises
def pad_cases(seed: int, n: int = 4, *, dtype: Any = np.float64) -> Iterator[Case]:
    """Cases for ``zero_pad2d(x, padding)``: int and (ph, pw) paddings, zero padding, batch of 1."""
    rng = np.random.default_rng(seed)
    fixed = [("non-square padding", (2, 3, 4, 5), (1, 2)), ("batch of 1", (1, 1, 3, 3), 2),
             ("zero padding", (2, 2, 3, 4), 0)]
    for i in range(_check_n(n)):
        label, shape, pad = fixed[i] if i < len(fixed) else (
            "random", tuple(int(s) for s in rng.integers(1, 6, size=4)),
            tuple(int(p) for p in rng.integers(0, 4, size=2)))
        yield Case(label, x=rng.standard_normal(shape).astype(dtype), padding=pad)


def output_size_cases(seed: int, n: int = 8) -> Iterator[Case]:
    """Cases for ``conv_output_size(size, kernel, stride, padding, dilation)`` with exact division.

    Every case has an integer answer (the stride divides ``size + 2P - D(K-1) - 1``).
    """
    rng = np.random.default_rng(seed)
    fixed = [("same padding", 32, 3, 1, 1, 1), ("stride 2", 7, 3, 2, 0, 1),
             ("dilation 2", 9, 3, 1, 0, 2), ("AlexNet conv1", 227, 11, 4, 0, 1)]
    for i in range(_check_n(n)):
        if i < len(fixed):
            label, size, k, s, p, d = fixed[i]
        else:
            while True:
                k, s, p, d = (int(v) for v in (rng.integers(1, 8), rng.integers(1, 5),
                                                rng.integers(0, 4), rng.integers(1, 4)))
                size = int(rng.integers(d * (k - 1) + 1, 64))
                try:
                    conv_output_size(size, k, s, p, d)   # exact division, or ValueError
                    break
                except ValueError:
                    continue
            label = "random"
        yield Case(label, size=size, kernel=k, stride=s, padding=p, dilation=d)
