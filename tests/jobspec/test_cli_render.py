"""`nomadctl render` / `nomadctl validate` end to end on the examples (no cluster)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from nomadctl.cli import cli

ROOT = Path(__file__).resolve().parents[2]
BASE = [
    "epn-processing",
    "--repo",
    str(ROOT / "examples"),
    "--var-file",
    str(ROOT / "examples/vars/epn-dev.yaml"),
    "--providers",
    str(ROOT / "examples/providers.yaml"),
    "--seed",
    "1",
]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_render_writes_one_file_per_job(tmp_path):
    out = tmp_path / "out"
    res = run("render", *BASE, "--env-id", "epndev", "--out", str(out))
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in (ROOT / "jobspecs").glob("aliecs-epndev[.-]*"))
    for name in names:
        assert (out / name).read_text() == (ROOT / "jobspecs" / name).read_text()
    assert "epn-processing: 2 service, 1 run and 1 hook jobs" in res.output


def test_render_json_only_with_options_and_stale_cleanup(tmp_path):
    (tmp_path / "aliecs-epndev-old.json").write_text("{}")
    (tmp_path / "aliecs-other-x.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("keep")
    res = run(
        "render",
        *BASE,
        "--env-id",
        "epndev",
        "--out",
        str(tmp_path),
        "--format",
        "json",
        "--split",
        "none",
        "--nomad-version",
        "2.0.5",
        "--datacenter",
        "p2",
        "--region",
        "cern",
        "--namespace",
        "online",
        "--host-target",
        "${attr.unique.hostname}",
        "--mhz-per-core",
        "3000",
    )
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "aliecs-epndev-hook-after-stop-activity-p10.json",
        "aliecs-epndev-run.json",
        "aliecs-epndev.json",
        "aliecs-other-x.json",
        "notes.txt",
    ]
    assert "removed" in res.output
    job = json.loads((tmp_path / "aliecs-epndev.json").read_text())["Job"]
    assert (job["Datacenters"], job["Region"], job["Namespace"]) == (["p2"], "cern", "online")
    qc = next(g for g in job["TaskGroups"] if g["Name"] == "qc001")
    assert qc["Constraints"][0]["LTarget"] == "${attr.unique.hostname}"


def test_validate_ok():
    res = run("validate", *BASE, "--nomad-version", "1.10")
    assert res.exit_code == 0, res.output
    assert "ok: epn-processing:" in res.output
    assert "valid for Nomad 1.10.0" in res.output


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    res = run("validate", *BASE, "--nomad-version", "1.5")  # the EPN group asks for a node pool
    assert res.exit_code == 2
    assert res.output.startswith("Plan: ")
    assert "node pools" in res.output
    assert "Traceback" not in res.output
    res = run("validate", *BASE, "--nomad-version", "zero")
    assert res.exit_code == 2
    assert res.output.startswith("Usage: --nomad-version")
    res = run("render", *BASE, "--env-id", "bad id", "--out", str(tmp_path / "o"))
    assert res.exit_code == 2
    assert res.output.startswith("Plan: env_id: environment id")
    assert not (tmp_path / "o").exists()
    res = run("validate", "nope", "--repo", str(ROOT / "examples"))
    assert res.exit_code == 2
    assert res.output.startswith("Manifest: ")


def test_render_needs_env_id_and_out():
    res = CliRunner().invoke(cli, ["render", *BASE])
    assert res.exit_code == 2
    assert "--env-id" in res.output
