"""The controller daemon's own Nomad job: what it must say, that it carries no secret, that the
committed files are today's render, and that the HCL parses as HCL2."""

from __future__ import annotations

import json
from pathlib import Path

import hcl2
from click.testing import CliRunner

from nomadctl.cli import cli
from nomadctl.controller.controller_job import HCL_FILE, JSON_FILE, ControllerJobOptions, controller_job
from nomadctl.jobspec.render import to_api_json, to_hcl
from nomadctl.jobspec.validate import check_job

ROOT = Path(__file__).resolve().parents[2]


def test_two_replicas_on_two_hosts_running_the_daemon() -> None:
    job = controller_job()
    assert (job.id, job.namespace, job.type) == (
        "nomadctl",
        "infra",
        "service",
    )  # the Vault role's bound claims
    assert [(c.operand, c.rtarget) for c in job.constraints or []] == [("distinct_hosts", "true")]
    (group,) = job.task_groups
    assert group.count == 2
    (task,) = group.tasks
    assert task.driver == "raw_exec"
    assert task.config.command == "/opt/nomadctl/venv/bin/nomadctl"
    args = task.config.args or []
    assert args[args.index("run") - 2 : args.index("run") + 1] == ["--kv-prefix", "nomadctl", "run"]
    assert "--status-addr" in args
    assert "${NOMAD_ADDR_status}" in args
    assert task.kill_signal == "SIGTERM"  # a stopped replica resigns at once
    (service,) = task.services or []
    assert service.name == "nomadctl-controller"
    assert service.port_label == "status"
    assert [c.type for c in service.checks or []] == ["tcp"]
    assert group.update is not None
    assert group.update.health_check == "checks"
    assert task.env is not None
    assert task.env["NOMAD_ADDR"].startswith("https://${attr.unique.network.ip-address}")
    assert check_job(job) == []


def test_tokens_come_from_vault_never_from_the_job() -> None:
    job = controller_job()
    (task,) = job.task_groups[0].tasks
    assert task.vault is not None
    assert task.vault.role == "nomadctl-controller"
    (template,) = task.templates or []
    assert template.envvars
    assert template.dest_path.startswith("secrets/")
    assert 'secret "kv/data/nomadctl/controller"' in template.embedded_tmpl
    text = to_api_json(job)
    for name in ("NOMAD_TOKEN", "CONSUL_HTTP_TOKEN"):
        assert name not in (task.env or {})
        assert text.count(name) == 1  # once: in the template, as a reference to Vault


def test_options_change_the_job() -> None:
    job = controller_job(ControllerJobOptions(count=3, venv="/srv/venv", namespace="ops", node_pool="infra"))
    assert job.task_groups[0].count == 3
    assert job.task_groups[0].tasks[0].config.command == "/srv/venv/bin/nomadctl"
    assert (job.namespace, job.node_pool) == ("ops", "infra")


def test_committed_files_are_todays_render_and_parse() -> None:
    job = controller_job()
    assert (ROOT / "jobspecs" / JSON_FILE).read_text() == to_api_json(job)
    assert (ROOT / "jobspecs" / HCL_FILE).read_text() == to_hcl(job)
    parsed = hcl2.loads(to_hcl(job))
    assert "nomadctl" in json.dumps(parsed["job"])


def test_cli_prints_or_writes_the_job(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["controller", "jobspec", "--format", "json", "--count", "3"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["Job"]["TaskGroups"][0]["Count"] == 3
    result = runner.invoke(cli, ["controller", "jobspec", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / JSON_FILE).exists()
    assert (tmp_path / HCL_FILE).exists()
    result = runner.invoke(cli, ["controller", "jobspec", "--nomad-version", "banana"])
    assert result.exit_code == 2
