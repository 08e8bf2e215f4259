"""The AST rules behind :func:`cnncourse.grading.tamper.tamper_scan` (one visitor, one cell)."""

from __future__ import annotations

import ast
import re
from typing import Iterable

__all__ = ["RULES", "DEFAULT_ALIASES", "scan_source_tree", "collect_bindings"]

RULES: dict[str, str] = {
    "patch-library": "assigns to, deletes or setattr()s an attribute of numpy/torch/cnncourse",
    "redefine-helper": "defines or rebinds a name that the test cells use",
    "reference-use": "imports or uses a reference implementation or a forbidden library shortcut",
    "process-control": "exits or kills the process, runs shell commands or loads ctypes",
    "guard-evasion": "touches signals, profilers/tracers or __name__ that bound the tests",
    "sys-modules": "manipulates sys.modules or the import machinery",
    "builtins-patch": "patches builtins / __builtins__",
    "grader-files": "names solution, release, gradebook or other notebook files",
    "dynamic-code": "exec/eval/compile/__import__/globals() tricks that can hide the above",
    "ipython-magic": "an IPython magic or shell escape (%..., !...)",
    "syntax-error": "the cell could not be parsed, so it could not be scanned",
}

DEFAULT_ALIASES = {"np": "numpy", "F": "torch.nn.functional", "nn": "torch.nn"}
_WATCHED = ("numpy", "torch", "cnncourse", "scipy")
_PROCESS = ("os._exit", "os.abort", "os.kill", "os.killpg", "os.system", "os.popen", "os.exec",
            "os.fork", "os.spawn", "sys.exit", "exit", "quit", "subprocess", "ctypes", "resource")
_GUARD = ("signal", "sys.setprofile", "sys.settrace", "threading.setprofile",
          "threading.settrace", "sys.monitoring", "faulthandler", "gc.get_referrers")
_DYNAMIC = ("exec", "eval", "compile", "__import__", "importlib", "types.FunctionType",
            "types.CodeType", "globals", "vars", "locals")
_FILE_PATTERN = re.compile(r"(solution|gradebook|nbgrader|autograded|submitted|release|"
                           r"source/|feedback/|\.ipynb|\.db\b|grading/)", re.IGNORECASE)


def _matches(dotted: str, names: Iterable[str]) -> bool:
    return any(dotted == n or dotted.startswith(n + ".") or (n.endswith(".") and
                                                            dotted.startswith(n)) for n in names)


def collect_bindings(tree: ast.AST, aliases: dict[str, str]) -> set[str]:
    """Record ``import`` aliases into ``aliases``; return the helper-like names the tree binds.

    Helper-like: top-level functions and classes, and names imported from the grading toolkit.
    Ordinary imports (``import numpy as np``) and data assignments are not helpers: a student
    repeating them is not tampering.
    """
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                if node.module.startswith("cnncourse.grading") and a.name != "*":
                    bound.add(a.asname or a.name)
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
    return bound


class _Visitor(ast.NodeVisitor):
    def __init__(self, aliases: dict[str, str], helpers: set[str], references: tuple[str, ...]):
        self.aliases, self.helpers, self.references = aliases, helpers, references
        self.hits: list[tuple[int, str, str]] = []  # (line, rule, detail)

    # -- helpers
    def flag(self, node: ast.AST, rule: str, detail: str) -> None:
        self.hits.append((getattr(node, "lineno", 0), rule, detail))

    def dotted(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("vars", "getattr") and node.args:
            return self.dotted(node.args[0])
        return None

    def check_target(self, target: ast.AST, verb: str) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.check_target(elt, verb)
        elif isinstance(target, ast.Starred):
            self.check_target(target.value, verb)
        elif isinstance(target, ast.Name):
            if target.id in self.helpers:
                self.flag(target, "redefine-helper", f"{verb} `{target.id}`, which the tests use")
            elif target.id in ("__builtins__",):
                self.flag(target, "builtins-patch", f"{verb} `__builtins__`")
            elif target.id == "__name__":
                self.flag(target, "guard-evasion", f"{verb} `__name__`")
        elif isinstance(target, ast.Attribute):
            self.check_owner(target, self.dotted(target.value), f"{verb} `{target.attr}` on")
        elif isinstance(target, ast.Subscript):
            owner = target.value
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and \
                    owner.func.id in ("globals", "locals", "vars") and not owner.args:
                key = target.slice
                name = key.value if isinstance(key, ast.Constant) else None
                if name in self.helpers:
                    self.flag(target, "redefine-helper", f"{verb} `{name}` through globals()")
                else:
                    self.flag(target, "dynamic-code", f"{verb} an entry of {owner.func.id}()")
                return
            base = self.dotted(owner)
            if base and base.endswith(".__dict__"):
                base = base[: -len(".__dict__")]
            self.check_owner(target, base, f"{verb} an item of")

    def check_owner(self, node: ast.AST, owner: str | None, what: str) -> None:
        if not owner:
            return
        root = owner.split(".")[0]
        if owner == "sys.modules" or owner.startswith("sys.modules."):
            self.flag(node, "sys-modules", f"{what} `sys.modules`")
        elif root in ("builtins", "__builtins__"):
            self.flag(node, "builtins-patch", f"{what} `{owner}`")
        elif root in _WATCHED:
            self.flag(node, "patch-library", f"{what} `{owner}`")
        elif root in self.helpers:
            self.flag(node, "redefine-helper", f"{what} the test helper `{owner}`")

    # -- statements that bind or store
    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self.check_target(t, "assigns")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.check_target(node.target, "assigns")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.check_target(node.target, "assigns")
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            self.check_target(t, "deletes")
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self.check_target(node.target, "loops into")
        self.generic_visit(node)

    def visit_withitem(self, node: ast.withitem) -> None:
        if node.optional_vars is not None:
            self.check_target(node.optional_vars, "binds")
        self.generic_visit(node)

    def _visit_def(self, node: ast.AST) -> None:
        if node.name in self.helpers:  # type: ignore[attr-defined]
            self.flag(node, "redefine-helper", f"defines `{node.name}`, which the tests use")  # type: ignore[attr-defined]
        self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_def

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.check_module(node, a.name, a.asname or a.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for a in node.names:
            full = f"{node.module}.{a.name}" if node.module else a.name
            self.check_module(node, full, a.asname or a.name)

    def check_module(self, node: ast.AST, full: str, bound: str) -> None:
        if _matches(full, self.references):
            self.flag(node, "reference-use", f"imports `{full}`")
        if bound in self.helpers:
            self.flag(node, "redefine-helper", f"rebinds `{bound}` by an import")
        self.check_name(node, full)

    # -- names that are suspicious wherever they appear
    def check_name(self, node: ast.AST, full: str) -> None:
        if _matches(full, _PROCESS):
            self.flag(node, "process-control", f"uses `{full}`")
        elif _matches(full, _GUARD):
            self.flag(node, "guard-evasion", f"uses `{full}`")
        elif full == "sys.modules" or full.startswith("sys.modules.") or full == "sys.meta_path":
            self.flag(node, "sys-modules", f"uses `{full}`")
        elif _matches(full, _DYNAMIC):
            self.flag(node, "dynamic-code", f"uses `{full}`")
        elif full == "get_ipython":
            self.flag(node, "ipython-magic", "runs an IPython magic or shell command")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        full = self.dotted(node)
        if full:
            if _matches(full, self.references):
                self.flag(node, "reference-use", f"uses `{full}`")
                return
            self.check_name(node, full)
            if full.split(".")[-1] in ("__code__", "__globals__", "__closure__"):
                self.flag(node, "dynamic-code", f"uses `{full}`")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            full = self.aliases.get(node.id, node.id)
            if full != node.id and _matches(full, self.references):
                self.flag(node, "reference-use", f"uses `{node.id}` = `{full}`")
            elif node.id != "__name__":
                self.check_name(node, full)

    def visit_Call(self, node: ast.Call) -> None:
        func = self.dotted(node.func) if not isinstance(node.func, ast.Call) else None
        if func in ("setattr", "delattr", "object.__setattr__", "object.__delattr__") and node.args:
            self.check_owner(node, self.dotted(node.args[0]), f"{func}() on")
            if isinstance(node.args[0], ast.Name) and node.args[0].id in self.helpers:
                self.flag(node, "redefine-helper", f"{func}() on `{node.args[0].id}`")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and _FILE_PATTERN.search(node.value):
            self.flag(node, "grader-files", f"mentions the path-like string {node.value[:60]!r}")


def scan_source_tree(tree: ast.AST, aliases: dict[str, str], helpers: set[str],
                     references: tuple[str, ...]) -> list[tuple[int, str, str]]:
    """Return ``(line, rule, detail)`` hits for one parsed cell, deduplicated per line and rule."""
    visitor = _Visitor(aliases, helpers, references)
    visitor.visit(tree)
    seen: set[tuple[int, str]] = set()
    hits = []
    for line, rule, detail in visitor.hits:
        if (line, rule) not in seen:
            seen.add((line, rule))
            hits.append((line, rule, detail))
    return sorted(hits)
