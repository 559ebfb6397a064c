"""Template expressions never reach Python's own evaluator."""

from __future__ import annotations

import ast
from pathlib import Path

import nomadctl.manifest.expr as engine

FORBIDDEN = {"eval", "exec", "compile", "__import__", "execfile"}
SOURCES = sorted(Path(engine.__file__).parent.glob("*.py"))


def test_sources_found():
    assert len(SOURCES) >= 10


def test_engine_calls_no_eval_exec_or_compile():
    offenders = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN:
                offenders.append(f"{path.name}:{node.lineno}: {node.func.id}()")
            if isinstance(node, ast.Name) and node.id in FORBIDDEN:
                offenders.append(f"{path.name}:{node.lineno}: reference to {node.id}")
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n in ("builtins", "importlib", "code", "codeop") for n in names):
                    offenders.append(f"{path.name}:{node.lineno}: imports {names}")
    assert offenders == []


def test_the_check_itself_would_catch_eval(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("x = eval('1 + 1')\n")
    tree = ast.parse(bad.read_text())
    assert any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in FORBIDDEN
        for n in ast.walk(tree)
    )
