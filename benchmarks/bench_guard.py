"""Cost of the kernel-side call guard (``make bench``): a careless-but-correct loop with and without it.

The grader runs every graded call of a student's function under
``__cnncourse_rpc__._Forbidden`` (patched attributes plus an identity monitor on every call,
and a torch function mode when a torch builtin is forbidden). Here the same server source is
executed in this process and two student-style functions are timed with the monitor on (``ours``)
and off (``peer``), in the same run: a naive four-loop numpy convolution under a1's list, and the
same loop with torch per-element ops under the conv preset (the torch mode's price). Not a test;
the test suite checks the guard's results, not its speed.
"""

from __future__ import annotations

from _bench import compare, header  # first: pins BLAS threads before numpy/torch load

import types

import numpy as np
import torch

from cnncourse.grading.guard import PRESETS
from cnncourse.grading.remote import server_source


def naive_conv(x, w):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    out = np.zeros((n, f, h - kh + 1, wd - kw + 1))
    for i in range(n):
        for j in range(f):
            for r in range(h - kh + 1):
                for s in range(wd - kw + 1):
                    out[i, j, r, s] = np.sum(x[i, :, r:r + kh, s:s + kw] * w[j])
    return out


def naive_conv_torch(x, w):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    out = torch.zeros((n, f, h - kh + 1, wd - kw + 1))
    for i in range(n):
        for j in range(f):
            for r in range(h - kh + 1):
                for s in range(wd - kw + 1):
                    out[i, j, r, s] = (x[i, :, r:r + kh, s:s + kw] * w[j]).sum()
    return out


def main() -> None:
    torch.set_num_threads(1)
    server = types.ModuleType("__cnncourse_rpc__")
    exec(compile(server_source(), "<cnncourse-rpc>", "exec"), server.__dict__)
    guard = server._Forbidden
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)

    def under(names, fn, *args):
        def run():
            with guard(names):
                fn(*args)
        return run

    header("guarded ms", "plain ms")
    compare("naive numpy conv (2,3,8,8)x(4,3,3,3), a1's forbidden list", under(list(PRESETS["a1_conv"]), naive_conv, x, w),
            under([], naive_conv, x, w))
    compare("same loop with torch ops, conv preset (torch mode on)", under(list(PRESETS["conv"]), naive_conv_torch, xt, wt),
            under([], naive_conv_torch, xt, wt))


if __name__ == "__main__":
    main()
