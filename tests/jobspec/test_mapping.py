"""The plan -> jobs mapping rules (ARCHITECTURE §4, docs/jobspec.md), one behaviour per test."""

from __future__ import annotations

import json

import pytest

from nomadctl.errors import PlanError
from nomadctl.jobspec import (
    GroupKind,
    JobKind,
    RenderOptions,
    Split,
    build_jobs,
    files,
    parse_trigger,
    render,
)
from nomadctl.jobspec.model import Task, TaskGroup
from nomadctl.jobspec.names import SERVICE_NAME
from nomadctl.jobspec.versions import NomadVersion
from nomadctl.plan import ControlMode, Limits, Resources
from tests.jobspec.planbuilder import (
    PlanBuilder,
    connect,
    flp_epn_plan,
    ipc_bind,
    kitchen_sink_plan,
    literal_connect,
    tcp_bind,
)

ENV = "2oDvzkBmdBA"


def opts(**kw):
    version = kw.pop("version", None)
    if version is not None:
        kw["nomad_version"] = NomadVersion.parse(version)
    return RenderOptions(**kw)


def where(js, path) -> tuple[object, TaskGroup, Task]:
    ref = js.tasks[path]
    job = js.job(ref.job_id)
    tg = next(g for g in job.task_groups if g.name == ref.group)
    task = next(t for t in tg.tasks if t.name == ref.task)
    return job, tg, task


# --- environment -> jobs ---------------------------------------------------------------------


def test_one_service_job_with_env_meta():
    js = build_jobs(flp_epn_plan(2), opts(split=Split.NONE))
    (service,) = js.of_kind(JobKind.SERVICE)
    assert service.id == f"aliecs-{ENV}"
    assert service.type == "service"
    assert service.meta["nomadctl.env"] == ENV
    assert service.meta["nomadctl.workflow"] == "readout-dataflow"
    assert service.meta["nomadctl.manifest_sha"] == "0" * 64
    assert service.parameterized_job is None
    paths = {t.path for t in flp_epn_plan(2).tasks if not t.is_hook}
    assert {p for p, r in js.tasks.items() if r.job_id == service.id} == paths


def test_run_scoped_basic_tasks_go_to_a_parameterized_batch_job():
    js = build_jobs(kitchen_sink_plan(), opts(split=Split.NONE))
    (run,) = js.of_kind(JobKind.RUN)
    assert run.id == "aliecs-k1tchenSink-run"
    assert run.type == "batch"
    assert run.parameterized_job.payload == "forbidden"
    assert run.parameterized_job.meta_optional == ["nomadctl.run_number"]
    _, tg, task = where(js, "readout-dataflow.host-flp001.roc-config")
    assert task.name == "roc-config"
    assert tg.restart_policy.attempts == 0
    assert tg.restart_policy.mode == "fail"
    assert not tg.reschedule_policy.enabled
    assert tg.update is None
    assert tg.disconnect is None


def test_hooks_one_parameterized_job_per_trigger_one_group_per_task():
    plan = kitchen_sink_plan()
    js = build_jobs(plan, opts(version="2.0.5"))
    triggers = {h.trigger: h for h in js.hooks}
    assert set(triggers) == {
        "DESTROY",
        "before_START_ACTIVITY-10",
        "after_STOP_ACTIVITY+5",
        "before_CONFIGURE",
    }
    h = triggers["before_START_ACTIVITY-10"]
    assert h.job_id == "aliecs-k1tchenSink-hook-before-start-activity-m10"
    assert triggers["after_STOP_ACTIVITY+5"].job_id.endswith("-hook-after-stop-activity-p5")
    assert (h.moment, h.weight) == ("before_START_ACTIVITY", -10)
    job = js.job(triggers["DESTROY"].job_id)
    assert job.type == "batch"
    assert job.parameterized_job is not None
    assert job.meta["nomadctl.trigger"] == "DESTROY"
    (tg,) = job.task_groups
    assert tg.meta["nomadctl.timeout"] == "30s"
    assert tg.max_run_duration == 30 * 10**9
    assert tg.tasks[0].user == "root"
    assert not tg.reschedule_policy.enabled
    assert tg.restart_policy.attempts == 0
    # a hook below a replicated role runs on every replica's kind of node
    prep = js.job(triggers["before_CONFIGURE"].job_id).task_groups[0]
    assert prep.count == 3
    assert any(c.operand == "distinct_hosts" for c in prep.constraints)


def test_hook_timeout_needs_max_run_duration_support():
    js = build_jobs(kitchen_sink_plan(), opts(version="2.0.2"))
    tg = js.job(next(h.job_id for h in js.hooks if h.trigger == "DESTROY")).task_groups[0]
    assert tg.max_run_duration is None
    assert tg.meta["nomadctl.timeout"] == "30s"  # the controller enforces it


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("DESTROY", ("DESTROY", 0)),
        ("before_START_ACTIVITY-50", ("before_START_ACTIVITY", -50)),
        ("after_STOP_ACTIVITY+100", ("after_STOP_ACTIVITY", 100)),
        ("enter_RUNNING+x", ("enter_RUNNING", 0)),
    ],
)
def test_parse_trigger(text, parsed):
    assert parse_trigger(text) == parsed


# --- placement groups -------------------------------------------------------------------------


def test_host_group_pins_with_configurable_target():
    js = build_jobs(flp_epn_plan(1), opts(host_target="${meta.machine_id}"))
    _, tg, _ = where(js, "readout-dataflow.host-alio2-cr1-flp001.readout")
    assert tg.name == "alio2-cr1-flp001"
    assert tg.count == 1
    pin = tg.constraints[0]
    assert (pin.ltarget, pin.operand, pin.rtarget) == ("${meta.machine_id}", "=", "alio2-cr1-flp001")
    assert js.groups[0].kind is GroupKind.HOST


def test_host_list_pins_to_any_of_them():
    b = PlanBuilder()
    b.task("t", host="flp001,flp002")
    _, tg, _ = where(build_jobs(b.build()), "readout-dataflow.t")
    assert (tg.constraints[0].operand, tg.constraints[0].rtarget) == ("set_contains_any", "flp001,flp002")


def test_other_aliecs_constraints_become_meta_set_contains():
    js = build_jobs(kitchen_sink_plan())
    _, tg, _ = where(js, "readout-dataflow.qc.server")
    assert any(
        (c.ltarget, c.operand, c.rtarget) == ("${meta.machine_type}", "set_contains", "qcserver")
        for c in tg.constraints
    )
    js = build_jobs(kitchen_sink_plan(), opts(attribute_targets={"machine_type": "${node.class}"}))
    _, tg, _ = where(js, "readout-dataflow.qc.server")
    assert any(c.ltarget == "${node.class}" for c in tg.constraints)


def test_replicated_group_count_nmin_pool_gpus():
    js = build_jobs(flp_epn_plan(2, odc_n_epns="12", odc_n_epns_max_fail="2"))
    job, tg, task = where(js, "readout-dataflow.epn.reco")
    assert tg.count == 12
    assert tg.meta["nomadctl.nmin"] == "10"
    assert tg.meta["nomadctl.replicas"] == "12"
    assert tg.meta["nomadctl.group_kind"] == "replicated"
    assert any(c.operand == "distinct_hosts" and c.rtarget == "true" for c in tg.constraints)
    assert job.node_pool == "epn"  # split host: the group's own job
    assert tg.reschedule_policy.unlimited
    assert tg.disconnect.replace is True
    assert task.resources.devices[0].name == "nvidia/gpu"
    assert task.resources.devices[0].count == 2
    (ref,) = [g for g in js.groups if g.kind is GroupKind.REPLICATED]
    assert (ref.count, ref.nmin) == (12, 10)
    assert tg.update.max_parallel == 12


def test_nmin_never_negative():
    js = build_jobs(flp_epn_plan(1, odc_n_epns="2", odc_n_epns_max_fail="5"))
    assert where(js, "readout-dataflow.epn.reco")[1].meta["nomadctl.nmin"] == "0"


@pytest.mark.parametrize(
    ("defaults", "field", "message"),
    [
        ({"nomad_replicas": "many"}, "nomad_replicas", "whole number"),
        ({"nomad_replicas": "-1"}, "nomad_replicas", ">= 0"),
        ({"nomad_replicas": "3", "nomad_max_fail": "x"}, "nomad_max_fail", "whole number"),
        ({"nomad_replicas": "2", "nomad_gpus": "two"}, "nomad_gpus", "whole number"),
        ({"nomad_replicas": "2", "nomad_gpu_vendor": "intel"}, "nomad_gpu_vendor", "one of nvidia, amd"),
        ({"nomad_replicas": "2", "nomad_priority": "0"}, "nomad_priority", "between 1 and"),
    ],
)
def test_bad_placement_vars_name_role_and_field(defaults, field, message):
    b = PlanBuilder()
    b.role("epn", defaults=defaults)
    b.task("epn.proc")
    with pytest.raises(PlanError) as exc:
        build_jobs(b.build())
    assert exc.value.field == field
    assert message in exc.value.message
    assert exc.value.role_path.startswith("readout-dataflow.epn")


def test_replicated_tasks_must_agree():
    b = PlanBuilder()
    b.role("epn", defaults={"nomad_replicas": "4"})
    b.task("epn.a")
    b.task("epn.sub.b", vars={"nomad_replicas": "5"})
    with pytest.raises(PlanError, match="disagree") as exc:
        build_jobs(b.build())
    assert exc.value.role_path == "readout-dataflow.epn"


def test_pinned_task_inside_replicated_group_is_an_error():
    b = PlanBuilder()
    b.role("epn", defaults={"nomad_replicas": "4"})
    b.task("epn.a", host="epn001")
    with pytest.raises(PlanError, match="pinned") as exc:
        build_jobs(b.build())
    assert exc.value.role_path == "readout-dataflow.epn.a"


def test_user_var_overrides_replicas():
    b = PlanBuilder(user_vars={"nomad_replicas": "7"})
    b.role("epn", defaults={"nomad_replicas": "4"})
    b.task("epn.a")
    assert where(build_jobs(b.build()), "readout-dataflow.epn.a")[1].count == 7


def test_node_class_pool_priority_namespace_from_vars():
    b = PlanBuilder(defaults={"nomad_namespace": "online", "nomad_priority": "80"})
    b.role("epn", defaults={"nomad_replicas": "2", "nomad_node_class": "mi50", "nomad_node_pool": "epn"})
    b.task("epn.a")
    job, tg, _ = where(build_jobs(b.build()), "readout-dataflow.epn.a")
    assert (job.namespace, job.priority, job.node_pool) == ("online", 80, "epn")
    assert any((c.ltarget, c.rtarget) == ("${node.class}", "mi50") for c in tg.constraints)


def test_mixed_pools_in_one_job_use_all_pool_and_constraints():
    js = build_jobs(flp_epn_plan(1), opts(split=Split.NONE))
    (job,) = js.of_kind(JobKind.SERVICE)
    assert job.node_pool == "all"
    pools = {
        tg.name: [c.rtarget for c in tg.constraints if c.ltarget == "${node.pool}"] for tg in job.task_groups
    }
    assert pools["epn"] == ["epn"]
    assert pools["alio2-cr1-flp001"] == ["default"]


def test_node_pool_needs_nomad_1_6():
    with pytest.raises(PlanError, match="node pools") as exc:
        build_jobs(flp_epn_plan(1), opts(version="1.5"))
    assert exc.value.field == "nomad_node_pool"


def test_conflicting_namespaces_in_one_job_is_an_error():
    b = PlanBuilder()
    b.task("a", host="h1", vars={"nomad_namespace": "x"})
    b.task("b", host="h1", vars={"nomad_namespace": "y"})
    with pytest.raises(PlanError, match="disagree") as exc:
        build_jobs(b.build())
    assert exc.value.field == "nomad_namespace"


def test_priorities_take_the_highest_with_a_warning_and_respect_the_cap():
    b = PlanBuilder()
    b.task("a", host="h1", vars={"nomad_priority": "60"})
    b.task("b", host="h1", vars={"nomad_priority": "90"})
    js = build_jobs(b.build())
    assert js.jobs[0].priority == 90
    assert any("priorities [60, 90]" in w for w in js.warnings)
    with pytest.raises(PlanError, match="job_max_priority"):
        build_jobs(b.build(), opts(max_priority=80))


def test_ipc_peers_unpinned_share_a_group():
    b = PlanBuilder()
    b.task("a.producer", bind=[ipc_bind("out")])
    b.task("b.consumer", connect=[connect("in", "a.producer", "out")])
    js = build_jobs(b.build())
    assert js.tasks["readout-dataflow.a.producer"].group == js.tasks["readout-dataflow.b.consumer"].group


@pytest.mark.parametrize("shmem", [True, False])
def test_ipc_peers_on_different_hosts_is_an_error(shmem):
    b = PlanBuilder()
    b.task("a.producer", host="h1", bind=[ipc_bind("out", shmem=shmem)])
    b.task("b.consumer", host="h2", connect=[connect("in", "a.producer", "out")])
    with pytest.raises(PlanError, match="same node") as exc:
        build_jobs(b.build())
    assert exc.value.role_path == "readout-dataflow.b.consumer"
    assert exc.value.field == "connect.in"


def test_ipc_peer_in_replicated_group_from_outside_is_an_error():
    b = PlanBuilder()
    b.role("epn", defaults={"nomad_replicas": "2"})
    b.task("epn.producer", bind=[ipc_bind("out")])
    b.task("qc.consumer", connect=[connect("in", "epn.producer", "out")])
    with pytest.raises(PlanError, match=r"replicated group readout-dataflow\.epn"):
        build_jobs(b.build())


def test_non_critical_tasks_get_their_own_group_on_the_host():
    js = build_jobs(kitchen_sink_plan(), opts(split=Split.HOST))
    _, crit, _ = where(js, "readout-dataflow.host-flp001.readout")
    job, opt_tg, task = where(js, "readout-dataflow.host-flp001.shmmonitor")
    assert opt_tg.name == "flp001-noncritical"
    assert opt_tg.meta["nomadctl.critical"] == "false"
    assert opt_tg.meta["nomadctl.nmin"] == "0"
    assert task.meta["nomadctl.critical"] == "false"
    assert opt_tg.constraints[0] == crit.constraints[0]
    assert job.id == js.tasks["readout-dataflow.host-flp001.readout"].job_id  # same job as its host


# --- split ------------------------------------------------------------------------------------


def test_split_modes():
    plan = flp_epn_plan(3)
    none = build_jobs(plan, opts(split=Split.NONE)).of_kind(JobKind.SERVICE)
    stage = build_jobs(plan, opts(split=Split.STAGE)).of_kind(JobKind.SERVICE)
    host = build_jobs(plan, opts(split=Split.HOST)).of_kind(JobKind.SERVICE)
    assert [j.id for j in none] == [f"aliecs-{ENV}"]
    assert sorted(j.id for j in stage) == sorted(
        [f"aliecs-{ENV}-hosts", f"aliecs-{ENV}-epn", f"aliecs-{ENV}-floating"]
    )
    assert len(host) == 5  # 3 hosts, epn, qc
    assert all(len(j.task_groups) == 1 for j in host)
    assert {j.meta.get("nomadctl.stage") for j in host} == {
        "alio2-cr1-flp001",
        "alio2-cr1-flp002",
        "alio2-cr1-flp003",
        "epn",
        "qc",
    }
    # the same groups and tasks, only cut differently
    for jobs in (stage, host):
        assert sorted(g.name for j in jobs for g in j.task_groups) == sorted(
            g.name for g in none[0].task_groups
        )


# --- tasks ------------------------------------------------------------------------------------


def test_exact_command_line():
    js = build_jobs(kitchen_sink_plan())
    _, _, shell = where(js, "readout-dataflow.host-flp001.roc-config")
    assert shell.driver == "raw_exec"
    assert shell.config.command == "/bin/sh"
    assert shell.config.args == ["-c", "o2-roc-config --id '#0'"]
    b = PlanBuilder()
    b.task("t", host="h", value="/opt/bin/x", args=("a b", "'c'", ""))
    _, _, exe = where(build_jobs(b.build()), "readout-dataflow.t")
    assert exe.config.command == "/opt/bin/x"
    assert exe.config.args == ["a b", "'c'", ""]


def test_control_port_label_per_task_and_rewrite():
    js = build_jobs(flp_epn_plan(1))
    _, tg, readout = where(js, "readout-dataflow.host-alio2-cr1-flp001.readout")
    _, _, stfb = where(js, "readout-dataflow.host-alio2-cr1-flp001.data-distribution.stfb")
    labels = [p.label for p in tg.networks[0].dynamic_ports]
    assert labels == ["occ_readout", "occ_data_distribution_stfb", "occ_data_distribution_stfs"]
    assert readout.env["OCC_CONTROL_PORT"] == "${NOMAD_PORT_occ_readout}"
    assert readout.env["NOMAD_PORT_occ"] == "${NOMAD_PORT_occ_readout}"
    assert stfb.config.args[-1] == "${NOMAD_PORT_occ_data_distribution_stfb}"
    assert js.tasks[stfb.meta["nomadctl.path"]].occ_port == "occ_data_distribution_stfb"
    assert stfb.meta["nomadctl.occ_port"] == "occ_data_distribution_stfb"


def test_aliecs_env_and_hostname():
    js = build_jobs(flp_epn_plan(1))
    assert where(js, "readout-dataflow.host-alio2-cr1-flp001.readout")[2].env["O2_ROLE"] == "alio2-cr1-flp001"
    assert where(js, "readout-dataflow.epn.reco")[2].env["O2_ROLE"] == "${node.unique.name}"
    b = PlanBuilder()
    b.task("t", host="h", env=("O2_ROLE=mine", "O2_SYSTEM=EPN", "A=b=c"))
    env = where(build_jobs(b.build()), "readout-dataflow.t")[2].env
    assert (env["O2_ROLE"], env["O2_SYSTEM"], env["A"]) == ("mine", "EPN", "b=c")


def test_resources_cores_to_mhz_memory_and_limits():
    js = build_jobs(kitchen_sink_plan(), opts(mhz_per_core=2400))
    res = where(js, "readout-dataflow.host-flp001.readout")[2].resources
    assert (res.cpu, res.memory_mb, res.memory_max_mb) == (360, 128, 1024)
    b = PlanBuilder()
    b.task("t", host="h", wants=Resources(cpu=0.0001, memory=0))
    res = where(build_jobs(b.build(), opts(default_memory_mb=300)), "readout-dataflow.t")[2].resources
    assert (res.cpu, res.memory_mb, res.memory_max_mb) == (1, 300, -1)
    old = where(build_jobs(b.build(), opts(version="1.10")), "readout-dataflow.t")[2].resources
    assert old.memory_max_mb is None  # no "unlimited" before 1.11.2: memory is the hard limit


def test_limits_below_wants_is_an_error():
    b = PlanBuilder()
    b.task("t", host="h", wants=Resources(memory=2000), limits=Limits(memory=1000))
    with pytest.raises(PlanError, match="below wants") as exc:
        build_jobs(b.build())
    assert (exc.value.role_path, exc.value.field) == ("readout-dataflow.t", "limits.memory")


def test_nvidia_gpus_export_cuda_visible_devices():
    b = PlanBuilder(defaults={"nomad_gpus": "4"})
    b.task("exe", host="h", value="/bin/reco", args=("--x", "a b"))
    b.task("sh", host="h", value="reco | tee", shell=True)
    js = build_jobs(b.build())
    exe = where(js, "readout-dataflow.exe")[2]
    assert exe.config.command == "/bin/sh"
    assert exe.config.args == [
        "-c",
        'export CUDA_VISIBLE_DEVICES="$NVIDIA_VISIBLE_DEVICES"; exec "$0" "$@"',
        "/bin/reco",
        "--x",
        "a b",
    ]
    sh = where(js, "readout-dataflow.sh")[2]
    assert sh.config.args == ["-c", 'export CUDA_VISIBLE_DEVICES="$NVIDIA_VISIBLE_DEVICES"; reco | tee']
    assert sh.resources.devices[0].count == 4


def test_amd_gpus_are_placed_by_node_meta():
    js = build_jobs(kitchen_sink_plan())
    _, tg, task = where(js, "readout-dataflow.epn.proc")
    assert task.resources.devices is None
    assert any(
        (c.ltarget, c.operand, c.rtarget) == ("${meta.gpu_vendor}", "=", "amd") for c in tg.constraints
    )
    assert any((c.ltarget, c.operand, c.rtarget) == ("${meta.gpu_count}", ">=", "1") for c in tg.constraints)
    # the group's other task keeps nvidia (vendor is per task)
    assert where(js, "readout-dataflow.epn.calib")[2].resources.devices[0].name == "nvidia/gpu"


def test_kubernetes_modes_are_refused():
    b = PlanBuilder()
    b.task("t", host="h", mode=ControlMode.KUBECTL_DIRECT)
    with pytest.raises(PlanError, match="Kubernetes") as exc:
        build_jobs(b.build())
    assert exc.value.field == "control.mode"


# --- channels ---------------------------------------------------------------------------------


def test_tcp_bind_gets_a_dynamic_port_and_a_consul_service():
    js = build_jobs(flp_epn_plan(1))
    _, tg, task = where(js, "readout-dataflow.epn.reco")
    assert "ch_reco_reco_out" in [p.label for p in tg.networks[0].dynamic_ports]
    svc = next(s for s in task.services if s.port_label == "ch_reco_reco_out")
    assert svc.name == "2odvzkbmdba-epn-reco-reco-out"
    assert svc.tags == ["aliecs", f"env-{ENV}", "channel"]
    assert svc.meta == {
        "env": ENV,
        "role": "readout-dataflow.epn.reco",
        "channel": "reco-out",
        "transport": "default",
    }
    (check,) = svc.checks
    assert (check.type, check.port_label) == ("tcp", "ch_reco_reco_out")
    assert js.tasks["readout-dataflow.epn.reco"].bind_ports == {"reco-out": "ch_reco_reco_out"}


def test_service_names_are_rfc1123_and_short():
    b = PlanBuilder("A" * 40)
    long = "x" * 50
    b.task(f"{long}.{long}", host="flp-" + "h" * 60, bind=[tcp_bind("c" * 40), tcp_bind("c" * 40 + "_x")])
    js = build_jobs(b.build())
    names = [s.name for j in js.jobs for g in j.task_groups for t in g.tasks for s in t.services or []]
    assert len(names) == 3
    assert len(set(names)) == 3
    assert all(SERVICE_NAME.match(n) for n in names), names


def test_service_count_is_groups_plus_tcp_channels():
    n = 20
    js = build_jobs(flp_epn_plan(n), opts(split=Split.NONE))
    services = [s for j in js.jobs for g in j.task_groups for t in g.tasks for s in t.services or []]
    service_groups = [g for g in js.groups if g.job_kind is JobKind.SERVICE]
    tcp_binds = 1  # epn.reco:reco-out
    assert len(services) == len(service_groups) + tcp_binds
    assert len(service_groups) == n + 2  # one per host, epn, qc


def test_cross_group_tcp_connect_renders_peers_from_consul():
    js = build_jobs(kitchen_sink_plan())
    _, _, qc = where(js, "readout-dataflow.qc.server")
    (tmpl,) = qc.templates
    assert 'service "k1tchensink-epn-proc-out"' in tmpl.embedded_tmpl
    assert tmpl.embedded_tmpl.startswith("NOMADCTL_CONNECT_IN=")
    assert tmpl.envvars is False  # controlled task: the controller configures its channels
    assert tmpl.change_mode == "noop"
    assert qc.meta["nomadctl.connect.in"] == "service:k1tchensink-epn-proc-out"
    assert qc.consul is not None
    _, _, plain = where(js, "readout-dataflow.host-flp001.roc-config")
    assert plain.templates[0].envvars is True  # plain task: reads the peer from its env
    old = where(build_jobs(kitchen_sink_plan(), opts(version="1.6")), "readout-dataflow.qc.server")[2]
    assert old.consul is None


def test_same_group_tcp_connect_uses_the_local_port():
    js = build_jobs(kitchen_sink_plan())
    _, _, stfb = where(js, "readout-dataflow.host-flp001.stfb")
    assert (
        stfb.env["NOMADCTL_CONNECT_MON"]
        == "tcp://${NOMAD_IP_ch_readout_monitor}:${NOMAD_PORT_ch_readout_monitor}"
    )
    assert stfb.meta["nomadctl.connect.mon"] == "port:ch_readout_monitor"
    assert not stfb.templates  # the IPC connect needs nothing: its address is in the plan


def test_literal_and_ipc_connects_need_nothing():
    b = PlanBuilder()
    b.task("p", host="h", bind=[ipc_bind("o")])
    b.task("c", host="h", connect=[connect("i", "p", "o"), literal_connect("ext", "tcp://10.0.0.1:5555")])
    _, _, c = where(build_jobs(b.build()), "readout-dataflow.c")
    assert c.templates is None
    assert not any(k.startswith("nomadctl.connect") for k in c.meta)


def test_unknown_peer_is_an_error():
    b = PlanBuilder()
    b.task("p", host="h", bind=[tcp_bind("o")])
    b.task("c", host="h", connect=[connect("i", "p", "o")])
    plan = b.build()
    broken = (
        plan.tasks[1].connect[0].__class__(**{**_fields(plan.tasks[1].connect[0]), "peer_task": "nowhere"})
    )
    from dataclasses import replace

    plan = replace(plan, tasks=(plan.tasks[0], replace(plan.tasks[1], connect=(broken,))))
    with pytest.raises(PlanError, match="not a task of the plan"):
        build_jobs(plan)


def _fields(obj):
    return {n: getattr(obj, n) for n in obj.__slots__}


# --- secrets ----------------------------------------------------------------------------------


def test_vault_reference_becomes_template_and_role():
    js = build_jobs(kitchen_sink_plan())
    _, _, t = where(js, "readout-dataflow.host-flp001.readout")
    assert "BK_TOKEN" not in t.env
    tmpl = next(x for x in t.templates if x.dest_path == "secrets/nomadctl-vault.env")
    assert tmpl.embedded_tmpl == (
        '{{ with secret "secret/data/aliecs/bookkeeping" }}BK_TOKEN={{ index .Data.data "token" }}{{ end }}\n'
    )
    assert (tmpl.envvars, tmpl.change_mode, tmpl.perms, tmpl.err_missing_key) == (True, "noop", "0400", True)
    # no namespace anywhere: the job lands in "default", the role follows policies/vault
    assert t.vault.role == "aliecs-default"
    assert t.vault.policies is None
    legacy = where(
        build_jobs(kitchen_sink_plan(), opts(version="1.6")), "readout-dataflow.host-flp001.readout"
    )[2]
    assert legacy.vault.role is None
    assert legacy.vault.policies == ["aliecs-default-read"]


def test_vault_role_follows_the_job_namespace():
    b = PlanBuilder(defaults={"nomad_namespace": "online"})
    b.task("t", host="h", env=("X=vault:kv/aliecs/online/p#k",))
    assert where(build_jobs(b.build()), "readout-dataflow.t")[2].vault.role == "aliecs-online"
    legacy = where(build_jobs(b.build(), opts(version="1.6")), "readout-dataflow.t")[2]
    assert legacy.vault.policies == ["aliecs-online-read"]


def test_vault_role_from_manifest_var():
    b = PlanBuilder(defaults={"nomad_vault_role": "aliecs-flp", "nomad_vault_policies": "a, b"})
    b.task("t", host="h", env=("X=vault:kv/p/q#k",))
    assert where(build_jobs(b.build()), "readout-dataflow.t")[2].vault.role == "aliecs-flp"
    assert where(build_jobs(b.build(), opts(version="1.5")), "readout-dataflow.t")[2].vault.policies == [
        "a",
        "b",
    ]


def test_secret_values_never_reach_the_job():
    b = PlanBuilder()
    b.task("t", host="h", env=("TOKEN=vault:secret/alice/db#password",))
    text = "".join(files(render(b.build())).values())
    assert "vault:" not in text
    assert "secret/data/alice/db" in text  # only the path


@pytest.mark.parametrize(
    "item",
    [
        "X=vault:nomount",
        "X=vault:secret/a/../b#k",
        "X=vault:secret/a#",
        "1X=vault:secret/a#k",
        "X=vault:s//a#k",
    ],
)
def test_bad_vault_references(item):
    b = PlanBuilder()
    b.task("t", host="h", env=(item,))
    with pytest.raises(PlanError) as exc:
        build_jobs(b.build())
    assert exc.value.role_path == "readout-dataflow.t"
    assert exc.value.field.startswith("env.")


# --- inputs, determinism, index ---------------------------------------------------------------


@pytest.mark.parametrize("env_id", ["", "has space", "-lead", "a/b"])
def test_env_id_must_name_jobs(env_id):
    b = PlanBuilder(env_id or "x")
    b.task("t", host="h")
    from dataclasses import replace

    with pytest.raises(PlanError, match="environment id"):
        build_jobs(replace(b.build(), env_id=env_id))


def test_datacenter_glob_needs_nomad_1_5():
    b = PlanBuilder()
    b.task("t", host="h")
    with pytest.raises(PlanError, match="datacenter globs"):
        build_jobs(b.build(), opts(version="1.4"))
    js = build_jobs(b.build(), opts(version="1.4", datacenters=("p2", "dc1")))
    assert js.jobs[0].datacenters == ["p2", "dc1"]


def test_old_agent_warning():
    b = PlanBuilder()
    b.task("t", host="h")
    assert any("upstream supports" in w for w in build_jobs(b.build(), opts(version="1.9")).warnings)
    assert build_jobs(b.build()).warnings == ()


def test_deterministic_output():
    a = files(render(kitchen_sink_plan()))
    b = files(render(kitchen_sink_plan()))
    assert a == b
    assert list(a) == list(b)
    for name, text in a.items():
        if name.endswith(".json"):
            assert json.loads(text)["Job"]["ID"] == name.removesuffix(".json")


def test_every_plan_task_is_indexed_once():
    plan = kitchen_sink_plan()
    js = build_jobs(plan)
    assert set(js.tasks) == {t.path for t in plan.tasks}
    placed = [p for g in js.groups for p in g.task_paths]
    assert sorted(placed) == sorted(js.tasks)
    for path, ref in js.tasks.items():
        job, _, task = where(js, path)
        assert task.meta["nomadctl.path"] == path
        assert js.kinds[job.id] is ref.kind


def test_hook_with_a_tcp_bind_gets_its_service():
    b = PlanBuilder()
    b.task("h", host="h1", mode=ControlMode.BASIC, trigger="DESTROY", bind=[tcp_bind("dump")])
    js = render(b.build())
    _, tg, task = where(js, "readout-dataflow.h")
    assert task.services[0].port_label == tg.networks[0].dynamic_ports[0].label
