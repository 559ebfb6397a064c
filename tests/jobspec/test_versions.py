"""--nomad-version parsing and the per-version output choices."""

from __future__ import annotations

import pytest

from nomadctl.errors import UsageError
from nomadctl.jobspec import CURRENT, NomadVersion, RenderOptions, build_jobs
from nomadctl.jobspec.versions import FEATURES
from tests.jobspec.planbuilder import kitchen_sink_plan


@pytest.mark.parametrize(
    ("text", "version"),
    [("2.0", (2, 0, 0)), ("v1.10.3", (1, 10, 3)), ("1.11.2+ent", (1, 11, 2)), (" 2.0.5-beta.1 ", (2, 0, 5))],
)
def test_parse(text, version):
    assert NomadVersion.parse(text) == NomadVersion(*version)


@pytest.mark.parametrize("text", ["", "two", "2", "1.2.0", "0.12.9", "2.x"])
def test_parse_rejects(text):
    with pytest.raises(UsageError, match="--nomad-version"):
        NomadVersion.parse(text)


def test_default_is_current_two_oh():
    assert NomadVersion(2, 0, 0) == CURRENT
    assert RenderOptions().nomad_version == CURRENT


def test_feature_floors():
    assert NomadVersion(1, 7, 0).supports("vault_workload_identity")
    assert not NomadVersion(1, 6, 9).supports("vault_workload_identity")
    assert not NomadVersion(2, 0, 2).supports("max_run_duration")
    assert NomadVersion(2, 0, 3).supports("max_run_duration")
    assert FEATURES["disconnect_block"] == NomadVersion(1, 8, 0)


def _features(version: str) -> set[str]:
    # datacenter globs need 1.5: name a datacenter so that every version renders
    opts = RenderOptions(nomad_version=NomadVersion.parse(version), datacenters=("dc1",))
    found: set[str] = set()
    for job in build_jobs(kitchen_sink_plan(), opts).jobs:
        for tg in job.task_groups:
            if tg.disconnect is not None:
                found.add("disconnect")
            if tg.max_run_duration is not None:
                found.add("max_run_duration")
            for t in tg.tasks:
                if t.vault is not None:
                    found.add("vault_role" if t.vault.role else "vault_policies")
                if t.consul is not None:
                    found.add("task_consul")
                if t.resources.memory_max_mb == -1:
                    found.add("memory_unlimited")
                if any(x.err_missing_key for x in t.templates or []):
                    found.add("missing_key")
    return found


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.4", {"vault_policies"}),
        ("1.6", {"vault_policies", "missing_key"}),
        ("1.7", {"vault_role", "task_consul", "missing_key"}),
        ("1.10", {"vault_role", "task_consul", "missing_key", "disconnect"}),
        ("2.0", {"vault_role", "task_consul", "missing_key", "disconnect", "memory_unlimited"}),
        (
            "2.0.5",
            {
                "vault_role",
                "task_consul",
                "missing_key",
                "disconnect",
                "memory_unlimited",
                "max_run_duration",
            },
        ),
    ],
)
def test_output_follows_the_agent_version(version, expected):
    assert _features(version) == expected


def test_provider_is_never_sent():
    # `provider = "consul"` is Nomad's default and older agents reject the key in HCL
    for job in build_jobs(kitchen_sink_plan()).jobs:
        assert "Provider" not in str(job.payload())
