"""One-call check of a student's ``torch.nn.Module`` class against a reference module.

The usual hidden test of an architecture exercise (assignment a3)::

    ref = BasicBlock(16, 32, stride=2)               # the library's block, random weights
    check_module(StudentBasicBlock, ref, x, args=(16, 32), kwargs={"stride": 2},
                 name="BasicBlock(16, 32, stride=2)", forbidden=("a3_architectures",))

On every available device: build the student's module (in the student's kernel when graded),
copy the reference's state dict into it with ``strict=True`` (so a missing projection shortcut or
a conv without ``groups`` fails here, naming the keys or shapes), compare the eval-mode output,
then the train-mode output, input gradient and every parameter's gradient for a random output
gradient (:func:`~cnncourse.grading.sandbox.module_gradients`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .compare import assert_array_close
from .devices import available_devices
from .sandbox import call_student, module_gradients

__all__ = ["check_module", "randomize_module"]


def randomize_module(module: Any, seed: int) -> Any:
    """Give ``module`` random weights and batch-norm statistics/affine parameters (in place), so
    that a block whose BN is an identity at initialisation cannot hide a missing or swapped BN."""
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not t.is_floating_point():
                continue
            if name.endswith("running_var") or (name.endswith("weight") and t.ndim == 1):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)           # variances / BN scales in [0.5, 1.5)
            elif t.ndim == 1:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.2)          # biases, BN shifts, running means
            else:
                fan_in = max(1, t[0].numel())
                t.copy_(torch.randn(t.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
    return module


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc)


def check_module(student_cls: Any, reference: Any, x: Any, *, args: Sequence[Any] = (),
                 kwargs: Mapping[str, Any] | None = None, name: str = "your module",
                 forbidden: Sequence[str] = (), hints: Mapping[str, str] | None = None,
                 layout: str = "", gradients: bool = True, timeout: float = 20.0,
                 devices: Sequence[str] | None = None, seed: int = 0) -> None:
    """Assert that ``student_cls(*args, **kwargs)`` computes what ``reference`` computes.

    Args:
        student_cls: the student's class (or a handle to it).
        reference: a module of the same layout (state-dict keys and shapes) with the weights to copy.
        x: a CPU input tensor (moved to each device).
        name: how the messages call the module (``"BasicBlock(16, 32, stride=2)"``).
        hints: advice per failure kind for the output comparison (``"values"``, ``"shape"``).
        layout: what the state-dict keys should be, added when loading the weights fails.
        gradients: also compare dx and the parameter gradients in train mode.
        devices: default :func:`~cnncourse.grading.devices.available_devices`.

    Raises:
        AssertionError naming the module, the device and what differs.
    """
    import torch

    kwargs = dict(kwargs or {})
    state = {k: v.detach().cpu().clone() for k, v in reference.state_dict().items()}
    gen = torch.Generator().manual_seed(int(seed))
    for dev in list(devices or available_devices()):
        where = f"{name} on {dev}"
        module = call_student(student_cls, *args, **kwargs, forbidden=forbidden, timeout=timeout, check_result=False)
        try:
            call_student(module.load_state_dict, state, forbidden=forbidden, timeout=timeout, check_result=False)
        except AssertionError:
            raise
        except Exception as exc:
            raise AssertionError(
                f"{where}: the reference's weights do not fit your module (load_state_dict(strict=True) failed): "
                f"{_message(exc)[:1500]}" + (f"\n  hint: {layout}" if layout else "")) from None
        module = call_student(module.to, dev, timeout=timeout, check_result=False)
        ref = reference.to(dev)
        xd = x.to(dev)
        call_student(module.eval, timeout=timeout, check_result=False)
        ref.eval()
        with torch.no_grad():
            want = ref(xd)
        got = call_student(module, xd, forbidden=forbidden, timeout=timeout)
        assert_array_close(got, want, name=f"{where}: output (eval mode) for input {tuple(x.shape)}", hints=hints)
        if not gradients:
            continue
        call_student(module.train, timeout=timeout, check_result=False)
        ref.train()
        dout = torch.randn(want.shape, generator=gen).to(dev)
        xr = xd.clone().requires_grad_(True)
        for p in ref.parameters():
            p.grad = None
        out = ref(xr)
        out.backward(dout)
        res = module_gradients(module, xd, dout, forbidden=forbidden, timeout=timeout)
        assert_array_close(res["out"], out.detach(), name=f"{where}: output (train mode)", hints=hints)
        if res["dx"] is None:
            raise AssertionError(f"{where}: no gradient reaches the input: does forward detach x or use .data?")
        assert_array_close(res["dx"], xr.grad, name=f"{where}: dx (gradient of the input, train mode)")
        for pname, p in ref.named_parameters():
            g = res["grads"].get(pname)
            if g is None:
                raise AssertionError(f"{where}: no gradient reaches the parameter `{pname}`: is it used in forward?")
            assert_array_close(g, p.grad, name=f"{where}: gradient of `{pname}` (train mode)")
        ref.to("cpu")
