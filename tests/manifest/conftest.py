"""Helpers: build small AliECS config repos in a temporary directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

RepoFactory = Callable[..., Path]


def write_repo(
    root: Path,
    workflows: Mapping[str, str] | None = None,
    tasks: Mapping[str, str] | None = None,
    jit: Mapping[str, str] | None = None,
) -> Path:
    """Write ``workflows/<name>.yaml``, ``tasks/<name>.yaml`` and ``jit/<name>`` (text dedented)."""
    for folder, files, suffix in (
        ("workflows", workflows, ".yaml"),
        ("tasks", tasks, ".yaml"),
        ("jit", jit, ""),
    ):
        if not files:
            continue
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (root / folder / f"{name}{suffix}").write_text(textwrap.dedent(text).lstrip("\n"))
    return root


@pytest.fixture
def make_repo(tmp_path: Path) -> RepoFactory:
    counter = iter(range(1000))

    def factory(workflows=None, tasks=None, jit=None) -> Path:  # type: ignore[no-untyped-def]
        root = tmp_path / f"repo{next(counter)}"
        root.mkdir()
        return write_repo(root, workflows, tasks, jit)

    return factory


# A minimal task template usable by most engine tests: prints its arguments.
ECHO_TT = """
name: echo
defaults:
  msg: default-msg
control:
  mode: basic
command:
  shell: true
  value: echo
  arguments:
    - "{{ msg }}"
"""


def plan_of(root: Path, workflow: str = "w", **kwargs):  # type: ignore[no-untyped-def]
    """``build_plan`` with a fixed environment id and seed unless given."""
    from nomadctl.manifest import build_plan

    kwargs.setdefault("env_id", "envtest")
    kwargs.setdefault("seed", 7)
    return build_plan(root, workflow, **kwargs)


def task_of(plan, path: str):  # type: ignore[no-untyped-def]
    for task in plan.tasks:
        if task.path == path:
            return task
    raise AssertionError(f"no task {path}; have {[t.path for t in plan.tasks]}")


def paths(plan) -> list[str]:  # type: ignore[no-untyped-def]
    return [node.path for node in plan.root.walk()]
