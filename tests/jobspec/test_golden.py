"""Golden renders of the examples (JSON and HCL).

* ``jobspecs/`` holds the default renders that CI ships (``scripts/render_examples.sh``);
* ``tests/jobspec/golden/`` holds a second shape: the oldest supported agent (1.10) and one
  service job per environment (``--split none``).

Regenerate both after an intended change with ``NOMADCTL_UPDATE_GOLDEN=1 pytest tests/jobspec``
(or ``scripts/render_examples.sh`` for jobspecs/) and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from nomadctl.jobspec import RenderOptions, Split, files, render
from nomadctl.jobspec.versions import NomadVersion
from nomadctl.manifest import build_plan, load_var_files
from nomadctl.providers.file import FileKVProvider

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("NOMADCTL_UPDATE_GOLDEN") == "1"


def examples() -> list[tuple[str, str, str]]:
    """(env id, workflow, var file) from scripts/render_examples.sh, the one list of examples."""
    text = (ROOT / "scripts" / "render_examples.sh").read_text()
    block = re.search(r"examples=\(\n(.*?)\n\)", text, re.S)
    assert block is not None
    return [tuple(line.strip().strip('"').split()) for line in block.group(1).splitlines()]  # type: ignore[misc]


def rendered(env_id: str, workflow: str, var_file: str, options: RenderOptions) -> dict[str, str]:
    plan = build_plan(
        ROOT / "examples",
        workflow,
        user_vars=load_var_files([ROOT / var_file]),
        kv=FileKVProvider.from_file(ROOT / "examples" / "providers.yaml"),
        env_id=env_id,
        seed=1,
    )
    return files(render(plan, options))


def compare(out: dict[str, str], directory: Path, env_id: str) -> None:
    existing = {p.name for p in directory.glob(f"aliecs-{env_id}[.-]*")} if directory.exists() else set()
    if UPDATE:
        directory.mkdir(parents=True, exist_ok=True)
        for name in existing - set(out):
            (directory / name).unlink()
        for name, text in out.items():
            (directory / name).write_text(text)
        return
    assert sorted(existing) == sorted(out), f"{directory}: files differ from the render"
    for name, text in out.items():
        assert (directory / name).read_text() == text, f"{directory / name} differs from the render"


def test_examples_list():
    envs = [e[0] for e in examples()]
    assert len(envs) >= 3
    assert len(set(envs)) == len(envs)


@pytest.mark.parametrize(("env_id", "workflow", "var_file"), examples(), ids=str)
def test_jobspecs_dir_is_the_default_render(env_id, workflow, var_file):
    out = rendered(env_id, workflow, var_file, RenderOptions())
    for name, text in out.items():
        if name.endswith(".json"):
            assert json.loads(text)["Job"]["ID"] == name.removesuffix(".json")
    compare(out, ROOT / "jobspecs", env_id)


@pytest.mark.parametrize(("env_id", "workflow", "var_file"), examples(), ids=str)
def test_golden_single_job_for_nomad_1_10(env_id, workflow, var_file):
    options = RenderOptions(nomad_version=NomadVersion.parse("1.10"), split=Split.NONE)
    out = rendered(env_id, workflow, var_file, options)
    service = [n for n in out if n in (f"aliecs-{env_id}.json", f"aliecs-{env_id}.nomad.hcl")]
    assert len(service) == 2  # one service job per environment in this shape
    compare(out, GOLDEN, env_id)
