"""Hidden tests in the grader's process, student code in the student's kernel (the autograding notes).

- :mod:`.wire`: the data format between the two (tagged JSON + ``.npz``, never pickles or code
  from the student);
- :mod:`.server`: what runs in the student's kernel to answer a request;
- :mod:`.client`: the grader's side: :class:`StudentNamespace`, :class:`RemoteObject` proxies,
  :class:`StudentError`, :func:`student_function`.

The notebook executor that wires them to a kernel is :class:`cnncourse.course.trusted.TrustedExecute`.
"""

from pathlib import Path

from .client import (CallResult, Channel, RemoteObject, StudentError, StudentKernelDied, StudentNamespace,
                     is_remote, student_function)
from .wire import Code, Ref, WireError

__all__ = ["CallResult", "Channel", "RemoteObject", "StudentError", "StudentKernelDied", "StudentNamespace",
           "is_remote", "student_function", "Code", "Ref", "WireError", "server_source"]


def server_source() -> str:
    """The source executed in the student's kernel: the wire format, then the server."""
    here = Path(__file__).parent
    wire = (here / "wire.py").read_text(encoding="utf-8")
    server = (here / "server.py").read_text(encoding="utf-8")
    return wire.replace("from __future__ import annotations\n", "") + "\n" + server
