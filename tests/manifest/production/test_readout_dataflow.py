"""Opt-in check against the production readout-dataflow of AliceO2Group/ControlWorkflows.

ControlWorkflows is GPL: it is not shipped. Point ``NOMADCTL_CONTROLWORKFLOWS`` at a checkout (or
``git archive`` export) to run this. The expected command lines below were derived by hand from
the production templates (tasks/readout.yaml, stfbuilder-senderoutput.yaml, stfsender.yaml,
fairmq-shmmonitor.yaml, shell-command.yaml and the host iterator of workflows/readout-dataflow.yaml)
with our vars.yaml/providers.yaml, following AliECS's BuildTaskCommand and scheduler additions.
"""

# ruff: noqa: E501  (expected command lines are long)

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from nomadctl.manifest import build_plan, load_var_files
from nomadctl.plan import ControlMode, EnvironmentPlan, TaskInstance
from nomadctl.providers.file import FileKVProvider

CW = os.environ.get("NOMADCTL_CONTROLWORKFLOWS")
HERE = Path(__file__).parent
ENV = "2oDvieFrVTi"
HOSTS = {"alio2-cr1-flp001": "TST", "alio2-cr1-flp002": "TST", "alio2-cr1-flp187": "ITS"}
FMQ_TAIL = "-S $CONTROL_OCCPLUGIN_ROOT/lib/ -P OCClite --color false --control-port ${NOMAD_PORT_occ}"
UID = r"[0-9A-Za-z]{11}"

pytestmark = pytest.mark.skipif(
    not CW, reason="set NOMADCTL_CONTROLWORKFLOWS=/path/to/ControlWorkflows to check the production workflow"
)


@pytest.fixture(scope="module")
def plan() -> EnvironmentPlan:
    assert CW is not None
    return build_plan(
        CW,
        "readout-dataflow",
        user_vars=load_var_files([HERE / "vars.yaml"]),
        kv=FileKVProvider.from_file(HERE / "providers.yaml"),
        env_id=ENV,
        seed=42,
    )


def task(plan: EnvironmentPlan, path: str) -> TaskInstance:
    return next(t for t in plan.tasks if t.path == path)


def test_the_plan_has_the_per_host_chain_and_hooks(plan: EnvironmentPlan) -> None:
    expected = []
    for host, detector in HOSTS.items():
        base = f"readout-dataflow.host-{host}"
        expected += [
            f"{base}.readout",
            f"{base}.data-distribution.stfb",
            f"{base}.data-distribution.stfs",
            f"{base}.fairmq-shmcleanup",
            f"{base}.fairmq-shmmonitor",
        ]
        if detector == "ITS":
            expected.append(f"{base}.its-cru-enable")
    assert [t.path for t in plan.tasks] == expected
    assert plan.public
    assert plan.description == "Main workflow template for ALICE data taking"
    # every integration aggregator (dcs, odc, trg, ...) is disabled by the production defaults
    assert plan.calls == ()


@pytest.mark.parametrize("host", list(HOSTS))
def test_readout(plan: EnvironmentPlan, host: str) -> None:
    t = task(plan, f"readout-dataflow.host-{host}.readout")
    folder = "PHYSICS" if host.endswith("187") else "ANY"
    assert t.command == (
        f"/opt/o2/bin/o2-readout-exe consul-ini://ali-consul.cern.ch:8500/o2/components/readout/{folder}/any/"
        f"readout-stfb-{host}"
    )
    assert t.argv[:2] == ("/bin/sh", "-c")
    assert (t.control_mode, t.host, t.user, t.critical) == (ControlMode.DIRECT, host, "flp", True)
    assert t.env == (
        f"O2_DETECTOR={HOSTS[host]}",
        f"O2_PARTITION={ENV}",
        "OCC_CONTROL_PORT=${NOMAD_PORT_occ}",
        f"O2_ROLE={host}",
        "O2_SYSTEM=FLP",
    )
    (bind,) = t.bind
    assert (bind.name, bind.addressing.value, bind.transport.value) == ("readout", "ipc", "shmem")


@pytest.mark.parametrize("host", list(HOSTS))
def test_stfbuilder(plan: EnvironmentPlan, host: str) -> None:
    t = task(plan, f"readout-dataflow.host-{host}.data-distribution.stfb")
    assert t.command == (
        "/opt/o2/bin/StfBuilder --session=default --transport=shmem --shm-segment-id=2 "
        "--shm-segment-size=33554432 --monitoring-backend='no-op://' --monitoring-process-interval='5' "
        f"--discovery-partition={ENV} --discovery-endpoint=consul://ali-consul.cern.ch:8500 --detector-rdh=6 "
        "--detector-subspec=feeid --severity=info --severity-infologger=info --output-channel-name=buildertosender "
        f"--shm-monitor=false --detector={HOSTS[host]} --run-type=physics"
        + " " * 9
        + f"--id {t.task_id} {FMQ_TAIL}"
    )
    assert t.env == (
        "O2_INFOLOGGER_MODE=infoLogger",
        f"O2_DETECTOR={HOSTS[host]}",
        "DATADIST_FEE_MASK=0xffff",
        f"O2_PARTITION={ENV}",
        "OCC_CONTROL_PORT=${NOMAD_PORT_occ}",
        f"O2_ROLE={host}",
        "O2_SYSTEM=FLP",
    )
    readout = task(plan, f"readout-dataflow.host-{host}.readout")
    (inp,) = t.connect
    assert (inp.target, inp.peer_task, inp.address) == (
        f"readout-dataflow.host-{host}.readout:readout",
        readout.path,
        readout.bind[0].address,
    )
    assert re.fullmatch(rf"stfb-{host}-{UID}", t.vars["dd_discovery_stfb_id"])


@pytest.mark.parametrize("host", list(HOSTS))
def test_stfsender(plan: EnvironmentPlan, host: str) -> None:
    t = task(plan, f"readout-dataflow.host-{host}.data-distribution.stfs")
    discovery = t.vars["dd_discovery_stfs_id"]
    assert re.fullmatch(rf"stfs-{host}-{UID}", discovery)
    assert t.command == (
        "numactl --cpunodebind=0 --preferred=0 -- /opt/o2/bin/StfSender --session=default --shm-segment-id=2 "
        "--shm-segment-size=33554432 --dd-region-size=4096 --dd-region-id=3536 --transport=shmem "
        "--input-channel-name=buildertosender --severity=info --severity-infologger=info "
        "--monitoring-backend='no-op://' --monitoring-process-interval='5' "
        f"--discovery-partition={ENV} --discovery-id={discovery} --discovery-endpoint=consul://ali-consul.cern.ch:8500 "
        "--discovery-net-if=ib0 --stand-alone --shm-monitor=false" + " " * 9 + f"--id {t.task_id} {FMQ_TAIL}"
    )
    assert t.env == (
        "O2_INFOLOGGER_MODE=infoLogger",
        'http_proxy=""',
        'https_proxy=""',
        "no_proxy=-ib,.internal",
        f"O2_DETECTOR={HOSTS[host]}",
        "UCX_NET_DEVICES=mlx5_0:1",
        "UCX_TLS=sm,self,dc,rc",
        "UCX_IB_SL=1",
        "UCX_DC_MAX_NUM_EPS=512",
        "UCX_RC_MAX_NUM_EPS=512",
        f"O2_PARTITION={ENV}",
        "OCC_CONTROL_PORT=${NOMAD_PORT_occ}",
        f"O2_ROLE={host}",
        "O2_SYSTEM=FLP",
    )
    (inp,) = t.connect
    stfb = task(plan, f"readout-dataflow.host-{host}.data-distribution.stfb")
    assert (inp.peer_task, inp.address) == (stfb.path, stfb.bind[0].address)


@pytest.mark.parametrize("host", list(HOSTS))
def test_hooks(plan: EnvironmentPlan, host: str) -> None:
    cleanup = task(plan, f"readout-dataflow.host-{host}.fairmq-shmcleanup")
    assert (
        cleanup.command
        == f"source /etc/profile.d/o2.sh && O2_PARTITION={ENV} O2_ROLE={host} o2-aliecs-shmcleaner"
    )
    assert (cleanup.control_mode, cleanup.trigger, cleanup.timeout, cleanup.critical, cleanup.user) == (
        ControlMode.HOOK,
        "before_DEPLOY",
        "30s",
        False,
        "root",
    )
    monitor = task(plan, f"readout-dataflow.host-{host}.fairmq-shmmonitor")
    assert monitor.command == "source /etc/profile.d/o2.sh && fairmq-shmmonitor -c -s default"
    assert (monitor.trigger, monitor.timeout, monitor.critical) == ("DESTROY", "10s", False)


def test_its_cru_enable_only_on_its_hosts(plan: EnvironmentPlan) -> None:
    t = task(plan, "readout-dataflow.host-alio2-cr1-flp187.its-cru-enable")
    assert t.command == (
        f"source /etc/profile.d/o2.sh && O2_PARTITION={ENV} O2_ROLE=alio2-cr1-flp187 O2_DETECTOR=ITS "
        "/opt/o2-roc-serial-update/workspace/cru_enable_card.sh"
    )
    assert (t.trigger, t.critical, t.user) == ("DESTROY", True, "flp")


def test_known_production_quirks_are_reported(plan: EnvironmentPlan) -> None:
    text = "\n".join(plan.warnings)
    assert "defaults.ctp_readout_host: untagged mapping dropped" in text
    assert plan.vars["detectors"] == '["ITS","TST"]'
