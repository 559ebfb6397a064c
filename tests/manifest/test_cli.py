"""``nomadctl manifest show``: human tree, JSON fields, option handling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nomadctl.cli import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["manifest", "show", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_has_the_documented_fields() -> None:
    code, out, err = run(
        "flp-dataflow",
        "--repo",
        str(EXAMPLES),
        "--var-file",
        str(EXAMPLES / "vars/flp-dev.yaml"),
        "--providers",
        str(EXAMPLES / "providers.yaml"),
        "--seed",
        "1",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    task = data["tasks"][0]
    for key in (
        "path",
        "task_class",
        "host",
        "control_mode",
        "command",
        "argv",
        "env",
        "critical",
        "trigger",
    ):
        assert key in task
    assert task["argv"][:2] == ["/bin/sh", "-c"]
    assert task["argv"][2] == task["command"]
    call = data["calls"][0]
    for key in ("path", "func", "trigger", "await", "critical"):
        assert key in call


def test_human_tree_lists_tasks_hooks_and_calls() -> None:
    code, out, _ = run(
        "flp-dataflow",
        "--repo",
        str(EXAMPLES),
        "--var",
        'hosts=["flp001"]',
        "--providers",
        str(EXAMPLES / "providers.yaml"),
        "--seed",
        "1",
    )
    assert code == 0
    assert "├─ host-flp001" in out or "└─ host-flp001" in out
    assert "readout  task readout [direct] @ flp001" in out
    assert "$ /opt/o2/bin/o2-readout-exe consul-ini://127.0.0.1:8500/o2/components/readout/" in out
    assert "hook before_DEPLOY" in out
    assert "call testplugin.Test() @ before_CONFIGURE-10 await after_CONFIGURE" in out


def test_later_vars_win_over_var_files(tmp_path: Path) -> None:
    vf = tmp_path / "v.yaml"
    vf.write_text("hosts: [a, b]\n")
    code, out, _ = run(
        "flp-dataflow",
        "--repo",
        str(EXAMPLES),
        "--var-file",
        str(vf),
        "--var",
        'hosts=["flp002"]',
        "--providers",
        str(EXAMPLES / "providers.yaml"),
        "--json",
    )
    assert code == 0
    assert json.loads(out)["user_vars"]["hosts"] == '["flp002"]'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--var", "novalue"], "Usage: --var 'novalue': expected NAME=VALUE"),
        (["--var-file", "/nonexistent.yaml"], "Usage: var file /nonexistent.yaml"),
        (["--providers", "/nonexistent.yaml"], "/nonexistent.yaml"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    code, _, err = run("flp-dataflow", "--repo", str(EXAMPLES), *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_missing_repo_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("w", "--repo", str(tmp_path / "nope"))
    assert code == 2
    assert "not a directory" in err
