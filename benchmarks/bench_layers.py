"""Benchmark: numpy reference layers vs torch CPU (forward + backward), medians of repeated runs.

Both sides run single-threaded (OMP/MKL/OpenBLAS threads = 1 and ``torch.set_num_threads(1)``) so the
ratio compares implementations, not core counts. Not a test: prints a table and exits 0.
Run: ``python benchmarks/bench_layers.py`` (or ``make bench``).
"""

from __future__ import annotations

from _bench import compare, header  # first: pins BLAS threads before numpy/torch load

import numpy as np
import torch
import torch.nn.functional as F

from cnncourse import layers as L

torch.set_num_threads(1)


def _conv_case(n, c, h, w, f, k, stride=1, padding=1, repeat=7):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    wt = rng.standard_normal((f, c, k, k), dtype=np.float32) * 0.1
    b = rng.standard_normal(f, dtype=np.float32)
    out, _ = L.conv2d_forward(x, wt, b, stride, padding)
    dout = rng.standard_normal(out.shape, dtype=np.float32)

    def ours():
        _, cache = L.conv2d_forward(x, wt, b, stride, padding)
        L.conv2d_backward(dout, cache)

    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, wt, b))
    td = torch.tensor(dout)

    def theirs():
        y = F.conv2d(tx, tw, tb, stride, padding)
        torch.autograd.grad(y, (tx, tw, tb), td)

    compare(f"conv2d fwd+bwd N={n} C={c} {h}x{w} F={f} {k}x{k} s={stride} p={padding}",
            ours, theirs, repeat=repeat, warmup=2, width=52)


def _pool_and_norm_cases(repeat=9):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 64, 32, 32), dtype=np.float32)
    tx = torch.tensor(x, requires_grad=True)

    for name, fwd, bwd, tfn in (
        ("max_pool2d fwd+bwd 32x64x32x32 k=2 s=2", lambda: L.max_pool2d_forward(x, 2), L.max_pool2d_backward,
         lambda: F.max_pool2d(tx, 2)),
        ("max_pool2d fwd+bwd 32x64x32x32 k=3 s=2 p=1", lambda: L.max_pool2d_forward(x, 3, 2, 1),
         L.max_pool2d_backward, lambda: F.max_pool2d(tx, 3, 2, 1)),
        ("avg_pool2d fwd+bwd 32x64x32x32 k=3 s=2 p=1", lambda: L.avg_pool2d_forward(x, 3, 2, 1),
         L.avg_pool2d_backward, lambda: F.avg_pool2d(tx, 3, 2, 1)),
    ):
        out, _ = fwd()
        dout = rng.standard_normal(out.shape, dtype=np.float32)
        td = torch.tensor(dout)

        def ours(fwd=fwd, bwd=bwd, dout=dout):
            bwd(dout, fwd()[1])

        def theirs(tfn=tfn, td=td):
            torch.autograd.grad(tfn(), (tx,), td)

        compare(name, ours, theirs, repeat=repeat, width=52)

    gamma = rng.standard_normal(64, dtype=np.float32)
    beta = rng.standard_normal(64, dtype=np.float32)
    rm, rv = np.zeros(64, np.float32), np.ones(64, np.float32)
    dout = rng.standard_normal(x.shape, dtype=np.float32)
    tg, tb = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
    trm, trv, td = torch.zeros(64), torch.ones(64), torch.tensor(dout)

    def ours():
        _, cache = L.batchnorm_forward(x, gamma, beta, rm, rv, training=True)
        L.batchnorm_backward(dout, cache)

    def theirs():
        y = F.batch_norm(tx, trm, trv, tg, tb, training=True)
        torch.autograd.grad(y, (tx, tg, tb), td)

    compare("batchnorm train fwd+bwd 32x64x32x32", ours, theirs, repeat=repeat, width=52)


def main() -> None:
    print(f"numpy {np.__version__}, torch {torch.__version__}; float32; 1 thread each "
          f"(OMP/MKL/OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1))")
    header("numpy ms", "torch ms", width=52)
    _conv_case(32, 32, 32, 32, 64, 3)
    _conv_case(8, 64, 56, 56, 64, 3)
    _conv_case(16, 3, 64, 64, 32, 5, stride=2, padding=2)
    _pool_and_norm_cases()


if __name__ == "__main__":
    main()
