"""Closed-form parameter and multiply-accumulate counts of the layers the architecture lectures cost.

Lecture 05. One formula per quantity, used everywhere: :func:`conv2d_macs` is what the model walker
(:func:`cnncourse.costs.layer_costs`) charges a ``Conv2d``, and the three multiplication counts of
the MobileNet slide (standard, depthwise, pointwise) and the inception module's op count are
written in terms of it, so the slides' formulas and the measured models cannot drift apart.

Conventions:
    A multiply-accumulate (MAC) is one ``a * b + c``; FLOPs = 2 * MACs (what
    ``torch.utils.flop_counter.FlopCounterMode`` reports). Biases are not counted as operations
    (they are not by ``FlopCounterMode`` either). Counts are per image.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncourse._validate import ArgumentError, as_pair, check_positive_int

__all__ = [
    "InceptionSpec",
    "InceptionTerm",
    "conv2d_macs",
    "conv2d_params",
    "depthwise_conv_mults",
    "inception_ops",
    "linear_macs",
    "linear_params",
    "pointwise_conv_mults",
    "standard_conv_mults",
]


def _check_groups(c_in: int, c_out: int, groups: int) -> int:
    groups = check_positive_int("groups", groups)
    if c_in % groups or c_out % groups:
        raise ArgumentError("groups", f"a divisor of c_in={c_in} and c_out={c_out}", groups)
    return groups


def conv2d_params(c_in: int, c_out: int, kernel: int | tuple[int, int], *, groups: int = 1,
                  bias: bool = True) -> int:
    """Parameters of a 2-D convolution: ``KH * KW * (C_in / groups) * C_out`` weights (+ ``C_out`` biases).

    Args:
        c_in, c_out: input and output channels (``F = c_out`` filters).
        kernel: ``K`` or ``(KH, KW)``.
        groups: channel groups (``c_in`` for a depthwise convolution).
        bias: count the ``C_out`` biases.

    Returns:
        The parameter count. AlexNet's CONV1: ``conv2d_params(3, 96, 11, bias=False)`` = 34,848.

    Example:
        >>> conv2d_params(3, 96, 11, bias=False), conv2d_params(3, 96, 11)
        (34848, 34944)

    Lecture 05.
    """
    c_in, c_out = check_positive_int("c_in", c_in), check_positive_int("c_out", c_out)
    kh, kw = as_pair("kernel", kernel, minimum=1)
    groups = _check_groups(c_in, c_out, groups)
    return kh * kw * (c_in // groups) * c_out + (c_out if bias else 0)


def conv2d_macs(h_out: int, w_out: int, c_in: int, c_out: int, kernel: int | tuple[int, int], *,
                groups: int = 1) -> int:
    """Multiply-accumulates of a 2-D convolution for one image.

    Every one of the ``H_out * W_out * C_out`` outputs is a dot product of length
    ``KH * KW * C_in / groups``.

    Args:
        h_out, w_out: output size (any stride, padding or dilation already applied).
        c_in, c_out: input and output channels.
        kernel: ``K`` or ``(KH, KW)``.
        groups: channel groups.

    Returns:
        ``H_out * W_out * C_out * KH * KW * C_in / groups``.

    Example:
        >>> conv2d_macs(28, 28, 256, 192, 3)   # the naive inception module's 3x3 branch
        346816512

    Lecture 05.
    """
    h_out, w_out = check_positive_int("h_out", h_out), check_positive_int("w_out", w_out)
    c_in, c_out = check_positive_int("c_in", c_in), check_positive_int("c_out", c_out)
    kh, kw = as_pair("kernel", kernel, minimum=1)
    groups = _check_groups(c_in, c_out, groups)
    return h_out * w_out * c_out * kh * kw * (c_in // groups)


def linear_params(n_in: int, n_out: int, *, bias: bool = True) -> int:
    """Parameters of a fully connected layer: ``n_in * n_out`` weights (+ ``n_out`` biases).

    Lecture 05.
    """
    n_in, n_out = check_positive_int("n_in", n_in), check_positive_int("n_out", n_out)
    return n_in * n_out + (n_out if bias else 0)


def linear_macs(n_in: int, n_out: int) -> int:
    """Multiply-accumulates of a fully connected layer for one input vector: ``n_in * n_out``.

    Lecture 05.
    """
    return check_positive_int("n_in", n_in) * check_positive_int("n_out", n_out)


def standard_conv_mults(kh: int, kw: int, h: int, w: int, c_in: int, c_out: int) -> int:
    """Seed 003's standard conv count: ``filter_h * filter_w * height * width * in_ch * out_ch``.

    "without strides and padding" there means the output keeps the ``h x w`` size (lecture 05).

    Lecture 05.
    """
    return conv2d_macs(h, w, c_in, c_out, (kh, kw))


def depthwise_conv_mults(kh: int, kw: int, h: int, w: int, c_in: int) -> int:
    """Seed 003's depthwise count ``filter_h * filter_w * height * width * in_ch`` (groups = ``c_in``).

    Lecture 05.
    """
    return conv2d_macs(h, w, c_in, c_in, (kh, kw), groups=c_in)


def pointwise_conv_mults(h: int, w: int, c_in: int, c_out: int) -> int:
    """Seed 003's pointwise (1x1) count ``height * width * in_ch * out_ch``.

    Lecture 05.
    """
    return conv2d_macs(h, w, c_in, c_out, 1)


@dataclass(frozen=True)
class InceptionSpec:
    """Channels of an inception module's four branches (GoogLeNet's table columns).

    Attributes:
        c1x1: output channels of the 1x1 branch.
        c3x3: output channels of the 3x3 branch; ``reduce3x3`` the 1x1 bottleneck before it
            (``None``: no bottleneck, the naive module).
        c5x5: output channels of the 5x5 branch; ``reduce5x5`` its bottleneck.
        pool_proj: 1x1 projection after the 3x3 max pool (``None``: the pooled input passes
            through with all its channels, the naive module).
        kernel5: kernel of the "5x5" branch. torchvision's GoogLeNet uses 3 there (a known slip it
            keeps for its pretrained weights); 5 is the paper's.

    Lecture 05.
    """

    c1x1: int
    c3x3: int
    c5x5: int
    reduce3x3: int | None = None
    reduce5x5: int | None = None
    pool_proj: int | None = None
    kernel5: int = 5

    def out_channels(self, c_in: int) -> int:
        """Channels after the depth-wise concatenation of the four branches."""
        return self.c1x1 + self.c3x3 + self.c5x5 + (c_in if self.pool_proj is None else self.pool_proj)


@dataclass(frozen=True)
class InceptionTerm:
    """One convolution of an inception module and its multiply count, written as the slide does.

    Lecture 05.
    """

    branch: str
    kernel: int
    c_in: int
    c_out: int
    h: int
    w: int
    macs: int

    def __str__(self) -> str:  # "[3x3 conv, 192] 28x28x192x3x3x256 = 346,816,512"
        k = self.kernel
        return (f"[{k}x{k} conv, {self.c_out}] {self.h}x{self.w}x{self.c_out}x{k}x{k}x{self.c_in}"
                f" = {self.macs:,}")


def inception_ops(h: int, w: int, c_in: int, spec: InceptionSpec) -> list[InceptionTerm]:
    """Every convolution of an inception module on an ``h x w x c_in`` input, with its MACs.

    All convolutions keep the ``h x w`` size ("same" padding, stride 1). Pooling is not a
    multiplication and is not listed (the slide's "Conv Ops" do not list it either).

    Args:
        h, w, c_in: input size (the slide's example: 28, 28, 256).
        spec: the branch channels; without reductions it is the naive module.

    Returns:
        The terms in branch order (1x1; [reduce,] 3x3; [reduce,] 5x5; [pool projection]); their
        ``macs`` sum to the module's total.

    Example:
        >>> naive = InceptionSpec(c1x1=128, c3x3=192, c5x5=96)
        >>> sum(t.macs for t in inception_ops(28, 28, 256, naive))
        854196224

    Lecture 05.
    """
    terms: list[InceptionTerm] = []

    def add(branch: str, k: int, ci: int, co: int) -> None:
        terms.append(InceptionTerm(branch, k, ci, co, h, w, conv2d_macs(h, w, ci, co, k)))

    add("1x1", 1, c_in, spec.c1x1)
    for name, red, c, k in (("3x3", spec.reduce3x3, spec.c3x3, 3),
                            ("5x5", spec.reduce5x5, spec.c5x5, spec.kernel5)):
        if red is not None:
            add(f"{name} reduce", 1, c_in, red)
        add(name, k, c_in if red is None else red, c)
    if spec.pool_proj is not None:
        add("pool proj", 1, c_in, spec.pool_proj)
    return terms
