"""The shipped examples/ config repo: it plans, and its stand-ins run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from nomadctl.manifest import build_plan, load_var_files
from nomadctl.plan import ControlMode, EnvironmentPlan, TargetKind
from nomadctl.providers.file import FileKVProvider

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STANDINS = EXAMPLES / "o2" / "bin"


def plan(workflow: str, var_file: str, **extra: str) -> EnvironmentPlan:
    user_vars = load_var_files([EXAMPLES / "vars" / var_file])
    user_vars.update(extra)
    return build_plan(
        EXAMPLES,
        workflow,
        user_vars=user_vars,
        kv=FileKVProvider.from_file(EXAMPLES / "providers.yaml"),
        seed=1,
    )


def test_flp_dataflow_per_host_chain_over_shmem() -> None:
    p = plan("flp-dataflow", "flp-dev.yaml")
    assert p.public
    for host in ("flp001", "flp002"):
        base = f"flp-dataflow.host-{host}"
        readout = next(t for t in p.tasks if t.path == f"{base}.readout")
        stfb = next(t for t in p.tasks if t.path == f"{base}.data-distribution.stfb")
        stfs = next(t for t in p.tasks if t.path == f"{base}.data-distribution.stfs")
        assert {readout.host, stfb.host, stfs.host} == {host}
        assert stfb.connect[0].address == readout.bind[0].address
        assert stfs.connect[0].address == stfb.bind[0].address
        assert (readout.control_mode, stfb.control_mode) == (ControlMode.DIRECT, ControlMode.FAIRMQ)
        # vars at the include site beat the included workflow's defaults
        cleanup = next(t for t in p.tasks if t.path == f"{base}.maintenance.shm-cleanup")
        assert (cleanup.trigger, cleanup.timeout, cleanup.critical) == ("before_DEPLOY", "15s", False)
    hooks = {(t.name, t.trigger) for t in p.hooks}
    assert hooks == {
        ("shm-cleanup", "before_DEPLOY"),
        ("ctp-emulator", "enter_RUNNING+5"),
        ("roc-cleanup", "DESTROY"),
    }
    triggers = [(c.trigger, c.await_, c.critical) for c in p.calls]
    assert ("before_CONFIGURE-10", "after_CONFIGURE", True) in triggers
    assert ("after_STOP_ACTIVITY-50", "after_STOP_ACTIVITY-50", False) in triggers


def test_flp_dataflow_with_the_pregenerated_jit_qc() -> None:
    p = plan("flp-dataflow", "flp-qc.yaml")
    dpl = p.role("flp-dataflow.host-flp001.data-distribution-dpl.dpl")
    assert dpl.include == "jit-flp-qc-minimal"
    proxy = next(t for t in p.tasks if t.name == "readout-proxy")
    assert proxy.connect[0].target_kind is TargetKind.GLOBAL
    assert proxy.connect[0].peer_task == "flp-dataflow.host-flp001.data-distribution-dpl.stfb"
    qc = next(t for t in p.tasks if t.name == "qc-task")
    payload = json.loads(qc.properties["__ptree__:json:qcConfiguration"])  # config.Get with an {% include %}
    assert payload["qc"]["config"]["database"]["host"] == "ccdb-test.cern.ch:8080"
    assert payload["qc"]["tasks"]["RawDataTask"]["detector"] == "TST"


def test_epn_processing_replicated_group_and_tcp_channel() -> None:
    p = plan("epn-processing", "epn-dev.yaml")
    reco = p.role("epn-processing.reco")
    assert (reco.defaults["nomad_replicas"], reco.defaults["nomad_max_fail"]) == ("2", "0")
    gpu = next(t for t in p.tasks if t.name == "gpu-reco")
    assert gpu.host is None
    assert (gpu.vars["nomad_gpus"], gpu.vars["nomad_gpu_vendor"], gpu.vars["nomad_replicas"]) == (
        "1",
        "nvidia",
        "2",
    )
    assert "O2_ROLE=${node.unique.name}" in gpu.env
    assert gpu.connect[0].address == next(t for t in p.tasks if t.name == "tf-receiver").bind[0].address
    merger = next(t for t in p.tasks if t.name == "merger")
    (qc,) = merger.connect
    assert (merger.host, qc.target, qc.peer_task, qc.address) == ("qc001", "::epn-qc", gpu.path, None)
    assert gpu.bind[0].address is None  # TCP: a dynamic port, resolved after placement


@pytest.mark.parametrize(
    ("workflow", "var_file"),
    [("flp-dataflow", "flp-dev.yaml"), ("epn-processing", "epn-dev.yaml"), ("flp-dataflow", "flp-qc.yaml")],
)
def test_every_command_runs_a_shipped_standin(workflow: str, var_file: str) -> None:
    p = plan(workflow, var_file, o2_install_path=str(EXAMPLES / "o2"))
    for task in p.tasks:
        exe = task.command.split()[0]
        if task.name in ("drop-caches",):
            continue
        assert Path(exe).is_file(), (task.path, exe)
        assert os.access(exe, os.X_OK), exe


def test_hook_standin_exits_with_the_requested_code() -> None:
    result = subprocess.run(
        [STANDINS / "o2-roc-cleanup", "--all", "--exit-code", "3"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 3
    assert "[o2-roc-cleanup] arg: --all" in result.stdout


def test_long_running_standin_stops_on_sigterm() -> None:
    proc = subprocess.Popen([STANDINS / "StfBuilder", "--session=default"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until it reported its start
        assert first.startswith("[StfBuilder] pid")
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
