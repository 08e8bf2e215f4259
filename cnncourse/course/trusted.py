"""Autograde execution: student cells in the student's sandboxed kernel, hidden tests in the grader.

:class:`TrustedExecute` replaces nbgrader's ``Execute`` in the autograde step. For each cell of
the notebook being graded:

- a **student cell** (solutions, self-checks, anything that is not a graded test) runs in the
  student's kernel, started inside the sandbox of :mod:`cnncourse.course.bwrap` (or without one,
  ``--sandbox none``, with a warning) in a scratch copy of the submission;
- a **graded test cell** (nbgrader ``grade: true``, not a solution; its source restored from the
  gradebook) runs *here*, in the grader's process, in a
  :class:`~cnncourse.grading.remote.StudentNamespace`: the student's functions are proxies that
  send their arguments to the student's kernel as data and get plain data back. The test code,
  expected values and grading seed never enter the student's kernel, and nothing the student's
  code does there (input transformers, exception handlers, patched modules, a planted
  ``cnncourse`` package) runs in here. The cell's outputs are written by the grader alone:
  what it printed, and an error output when the test failed.

A kernel that dies (``os._exit``, a segfault, the memory guard) or stops answering costs the cell
where it happened and everything after it that needs the kernel; the graded cells that completed
before keep their scores, and each later one fails with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import queue
import shutil
import tempfile
import time
import traceback
from pathlib import Path

from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.client import NotebookClient
from nbformat import NotebookNode
from traitlets import Float, Unicode

from cnncourse.course.preprocessors import DIED_MARK, RUNNING_MARK, LocatingExecute, describe_cell
from cnncourse.grading.remote import Channel, StudentError, StudentKernelDied, StudentNamespace, server_source
from cnncourse.grading.remote.wire import WireError, dumps, loads
from cnncourse.grading.sandbox import StudentTimeout

__all__ = ["TrustedExecute", "is_test_cell", "SANDBOX_MARK"]

SANDBOX_MARK = "[cnncourse] sandbox:"
_RPC = "__cnncourse_rpc__"
_MAX_RESPONSE = 1 << 30


def is_test_cell(cell) -> bool:
    """A graded test cell: code, ``grade: true`` and not a solution (its points come from its outputs)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _error_output(ename: str, evalue: str, lines: list[str]) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=lines)


class _KernelChannel(Channel):
    """Requests to the student's kernel through request/response files in its scratch folder."""

    def __init__(self, executor: "TrustedExecute", folder: Path):
        self.executor, self.folder, self.count = executor, folder, 0
        self.deadline: float | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def exchange(self, doc: dict, arrays: dict, timeout: float) -> tuple[dict, dict]:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise StudentTimeout(0, "the test cell (its time budget is used up)")
            timeout = min(timeout, left)
        self.count += 1
        request, response = self.folder / f"req-{self.count}.npz", self.folder / f"resp-{self.count}.npz"
        request.write_bytes(dumps(doc, arrays))
        try:
            self.executor.run_rpc(f"__import__('sys').modules[{_RPC!r}].serve({str(request)!r}, {str(response)!r})",
                                  timeout)
            if not response.is_file() or response.is_symlink():
                raise StudentError("GradingChannelBroken", "the notebook's code broke the grading channel "
                                   "(no answer came back from the kernel)")
            if response.stat().st_size > _MAX_RESPONSE:
                raise StudentError("ResultTooLarge", "the result is larger than the grader accepts (1 GiB)")
            try:
                return loads(response.read_bytes())
            except WireError as exc:
                raise StudentError("GradingChannelBroken", f"the kernel's answer is not valid data ({exc})") from None
        finally:
            for path in (request, response):
                with contextlib.suppress(OSError):
                    path.unlink()


class TrustedExecute(LocatingExecute):
    """nbgrader's ``Execute`` with hidden tests in the grader and student code in a sandbox."""

    sandbox = Unicode("auto", help="auto (bwrap when it works here), bwrap, or none").tag(config=True)
    memory_mb = Float(3072, help="address-space limit of the student's kernel, MiB").tag(config=True)
    call_timeout = Float(10.0, help="default seconds for one call of a student's function").tag(config=True)

    # ------------------------------------------------------------------ kernel
    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        km.transport = "ipc"  # unix sockets: no TCP ports to race for, and reachable from the sandbox
        km.ip = str(self._ipc / "kernel")
        km.connection_file = str(self._ipc / "connection.json")
        return km

    def _sandbox_mode(self) -> str:
        from cnncourse.course.bwrap import bwrap_available

        if self.sandbox == "none":
            return "none"
        reason = bwrap_available()
        if self.sandbox == "bwrap" and reason:
            raise RuntimeError(f"--sandbox bwrap was asked for, but {reason}")
        if reason:
            self.log.warning("%s none: %s; student code runs WITHOUT a sandbox (it can read the course "
                             "directory). Install bubblewrap for grading real submissions.", SANDBOX_MARK, reason)
            return "none"
        return "bwrap"

    def _kernel_env(self, mode: str, assignment: str) -> dict[str, str]:
        from cnncourse.grading.registry import hidden_modules

        env = {k: v for k, v in os.environ.items() if not k.startswith("CNNCOURSE_GRADING")}
        env.update(CNNCOURSE_SANDBOX=mode, CNNCOURSE_WORK=str(self._work), CNNCOURSE_IPC=str(self._ipc),
                   CNNCOURSE_HIDE=json.dumps(hidden_modules(assignment)))
        return env

    def run_rpc(self, code: str, timeout: float) -> None:
        """Run one request in the student's kernel; raise if it died or ran past ``timeout``."""
        if self._dead:
            raise StudentKernelDied("KernelDied", self._dead)
        run_sync(self._async_run_rpc)(code, timeout)

    async def _async_run_rpc(self, code: str, timeout: float) -> None:
        msg_id = self.kc.execute(code, silent=False, store_history=False, allow_stdin=False, stop_on_error=False)
        deadline, interrupted = time.monotonic() + timeout, False
        while True:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=0.2))
            except (queue.Empty, asyncio.TimeoutError):
                if not await ensure_async(self.km.is_alive()):
                    self._dead = "the kernel died while the tests called your code"
                    raise StudentKernelDied("KernelDied", self._dead) from None
                if time.monotonic() < deadline:
                    continue
                if not interrupted:
                    interrupted, deadline = True, time.monotonic() + 5
                    await ensure_async(self.km.interrupt_kernel())
                    continue
                self._dead = (f"your code ran past its time limit ({timeout:.0f} s) and did not stop when "
                              "interrupted, so the kernel was stopped")
                await ensure_async(self.km.shutdown_kernel(now=True))
                raise StudentTimeout(timeout, "your function") from None
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                break
        await self._drain_iopub(msg_id)
        if interrupted:
            raise StudentTimeout(timeout, "your function")

    async def _drain_iopub(self, msg_id: str) -> None:
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=0.2))
            except (queue.Empty, asyncio.TimeoutError):
                continue
            if (msg.get("parent_header", {}).get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"].get("execution_state") == "idle"):
                return

    def _check_responsive(self, where: str) -> None:
        """After a cell timed out: a kernel that ignored the interrupt is stopped, naming the cell."""
        try:
            self.run_rpc("pass", 10)
        except (StudentTimeout, StudentError):
            self._dead = (f"{where} ran past its time limit and did not stop when interrupted, so the "
                          "kernel was stopped")
            self.log.error("%s %s", DIED_MARK, where)

    def _death_cause(self) -> str:
        """'ran out of memory' (the memory guard's exit code or a kill) or 'died', from the exit status."""
        from cnncourse.course.kernel import OUT_OF_MEMORY_EXIT

        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        if code == OUT_OF_MEMORY_EXIT:
            return "ran out of memory (the grading kernel's memory guard stopped it)"
        if code is not None and code < 0:
            return f"died (killed by signal {-code})"
        return "died" + (f" (exit status {code})" if code not in (None, 0) else "")

    def _install_server(self) -> None:
        source = server_source()
        code = (f"import sys as _s, types as _t\n_m = _t.ModuleType({_RPC!r})\n"
                f"exec(compile({source!r}, '<cnncourse-rpc>', 'exec'), _m.__dict__)\n"
                f"_s.modules[{_RPC!r}] = _m\ndel _s, _t, _m\n")
        self.run_rpc(code, 60)

    # ------------------------------------------------------------------ cells
    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        assignment = (resources or {}).get("nbgrader", {}).get("assignment", "")
        source = Path((resources or {}).get("metadata", {}).get("path") or ".")
        self._rundir = Path(tempfile.mkdtemp(prefix="cnncourse-grade-"))
        self._work, self._ipc = self._rundir / "work", self._rundir / "ipc"
        shutil.copytree(source, self._work, symlinks=True,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        self._ipc.mkdir()
        os.chmod(self._rundir, 0o700)
        self._dead = ""
        mode = self._sandbox_mode()
        self.log.info("%s %s", SANDBOX_MARK, mode)
        self.channel = _KernelChannel(self, self._work / ".cnncourse-rpc")
        self.namespace = StudentNamespace(self.channel, {"__name__": "__hidden_tests__"})
        try:
            with self.setup_kernel(env=self._kernel_env(mode, assignment), cwd=str(self._work)):
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                try:
                    self._install_server()
                except StudentError as exc:
                    self._dead = f"the kernel could not start the grading channel ({exc})"
                for index, cell in enumerate(self.nb.cells):
                    self.preprocess_cell(cell, resources, index)
        finally:
            from cnncourse.course.bwrap import release_cgroup

            release_cgroup(self._ipc / "cgroup")
            shutil.rmtree(self._rundir, ignore_errors=True)
        self.set_widgets_metadata()
        return self.nb, self.resources

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        where = describe_cell(self.nb, index)
        self.log.info("%s %s", RUNNING_MARK, where)
        if is_test_cell(cell):
            self._run_test_cell(cell)
            return cell, resources
        if self._dead:
            cell.outputs = [_error_output("NotRun", "not run", [f"not run: {self._dead}"])]
            return cell, resources
        try:
            cell = self.execute_cell(cell, index, store_history=True)
            if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
                self._check_responsive(where)
        except CellTimeoutError:  # the reply came, the kernel never went idle: it ignored the interrupt
            cell.outputs = list(cell.get("outputs", [])) + [_error_output(
                "CellTimeoutError", "the cell ran past its time limit",
                [f"This cell ran past its time limit ({self.timeout} s) and did not stop when interrupted."])]
            self._check_responsive(where)
        except DeadKernelError:
            self.log.error("%s %s", DIED_MARK, where)
            self._dead = f"the kernel {self._death_cause()} in {where}"
            cell.outputs = list(cell.get("outputs", [])) + [_error_output(
                "KernelDied", self._dead, [f"The kernel died while running this cell ({where}); "
                                           "the graded cells after it cannot run."])]
        return cell, resources

    def _run_test_cell(self, cell) -> None:
        """Execute one hidden-test cell here, in the grader, and write its outputs."""
        gid = cell.metadata["nbgrader"].get("grade_id", "test")
        self.namespace.new_cell()
        start, calls = time.monotonic(), self.channel.count
        self.channel.deadline = start + float(self.timeout or 60)
        out = io.StringIO()
        error = None
        try:
            code = compile(cell.source, f"<hidden test {gid}>", "exec")
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                exec(code, self.namespace)
        except BaseException as exc:  # noqa: BLE001 - every failure of a test is that test's result
            error = exc
        finally:
            self.channel.deadline = None
        outputs = []
        text = out.getvalue()
        if text:
            outputs.append(NotebookNode(output_type="stream", name="stdout", text=text[-20000:]))
        if error is not None:
            outputs.append(self._describe_failure(error))
        cell.outputs = outputs
        cell.execution_count = None
        self.log.info("[cnncourse] test %s: %s in %.2f s, %d calls into the student's kernel", gid,
                      "failed" if error is not None else "passed", time.monotonic() - start,
                      self.channel.count - calls)

    def _describe_failure(self, exc: BaseException) -> NotebookNode:
        """An error output with the message first and only the student's own frames."""
        if isinstance(exc, StudentKernelDied):
            return _error_output("NotGraded", str(exc.message), [f"not graded: {exc.message}"])
        if isinstance(exc, StudentError):
            lines = [f"{exc.type_name}: {exc.message}"]
            if exc.student_traceback:
                lines += ["", "Your code raised it here:", exc.student_traceback.rstrip()]
            return _error_output(exc.type_name, exc.message, lines)
        name = type(exc).__name__
        message = str(exc)
        if isinstance(exc, (NameError, KeyError)) and "is not defined" in message:
            message += " (define it in your notebook, with the name the exercise asks for)"
        if not isinstance(exc, (AssertionError, StudentTimeout)):
            # an error of the test itself: keep only the test cell's line, never the grader's files
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<hidden")]
            where = f" (at line {frames[-1].lineno} of the test)" if frames else ""
            message = f"{message}{where}"
        return _error_output(name, message, [f"{name}: {message}"])
