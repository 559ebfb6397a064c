"""Local validation: each of Nomad's rules we check can fail, and names the role path."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nomadctl.errors import PlanError
from nomadctl.jobspec import (
    JobValidationError,
    RenderOptions,
    build_jobs,
    check_job,
    check_jobs,
    render,
    validate,
)
from nomadctl.jobspec.model import (
    Constraint,
    Consul,
    DisconnectStrategy,
    EphemeralDisk,
    Job,
    NetworkResource,
    ParameterizedJobConfig,
    Port,
    RequestedDevice,
    ReschedulePolicy,
    RestartPolicy,
    Service,
    ServiceCheck,
    Template,
    UpdateStrategy,
    Vault,
)
from nomadctl.jobspec.versions import NomadVersion
from tests.jobspec.planbuilder import flp_epn_plan, kitchen_sink_plan

V = NomadVersion.parse
S = 10**9


def base() -> tuple[Job, Job]:
    """A valid service job (host group with services, templates, vault) and a valid hook job."""
    js = build_jobs(kitchen_sink_plan(), RenderOptions(nomad_version=V("2.0.5")))
    service = js.job(js.tasks["readout-dataflow.host-flp001.readout"].job_id)
    hook = js.job(next(h.job_id for h in js.hooks if h.trigger == "DESTROY"))
    assert check_job(service, V("2.0.5")) == []
    assert check_job(hook, V("2.0.5")) == []
    return service, hook


def job(j: Job, **upd) -> Job:
    return j.model_copy(update=upd)


def group(j: Job, **upd) -> Job:
    return job(j, task_groups=[j.task_groups[0].model_copy(update=upd), *j.task_groups[1:]])


def task(j: Job, **upd) -> Job:
    tg = j.task_groups[0]
    return group(j, tasks=[tg.tasks[0].model_copy(update=upd), *tg.tasks[1:]])


def resources(j: Job, **upd) -> Job:
    return task(j, resources=j.task_groups[0].tasks[0].resources.model_copy(update=upd))


def services(j: Job, *svc: Service) -> Job:
    return task(j, services=list(svc))


def svc(j: Job, **upd) -> Service:
    s = j.task_groups[0].tasks[0].services[0]
    return s.model_copy(update=upd)


def tmpl(**upd) -> Template:
    return Template(embedded_tmpl="x", dest_path="local/x.env").model_copy(update=upd)


Mut = Callable[[Job, Job], Job]
CASES: list[tuple[str, Mut, str, str]] = [
    # job
    ("id-space", lambda s, h: job(s, id="a b"), "Job ID contains a space", "2.0.5"),
    ("id-nul", lambda s, h: job(s, id="a\0"), "null character", "2.0.5"),
    ("id-empty", lambda s, h: job(s, id=""), "Missing job ID", "2.0.5"),
    ("name-empty", lambda s, h: job(s, name=""), "Missing job name", "2.0.5"),
    ("namespace-empty", lambda s, h: job(s, namespace=""), "Job must be in a namespace", "2.0.5"),
    ("no-dc", lambda s, h: job(s, datacenters=[]), "Missing job datacenters", "2.0.5"),
    ("empty-dc", lambda s, h: job(s, datacenters=["a", ""]), "non-empty string", "2.0.5"),
    ("dc-glob-old", lambda s, h: job(s, datacenters=["*"], node_pool=None), "datacenter glob needs", "1.4"),
    ("priority-0", lambda s, h: job(s, priority=0), "priority must be between", "2.0.5"),
    ("priority-high", lambda s, h: job(s, priority=101), "priority must be between", "2.0.5"),
    ("node-pool-old", lambda s, h: job(s, node_pool="epn"), "node_pool needs Nomad >= 1.6", "1.5"),
    (
        "param-service",
        lambda s, h: job(s, parameterized_job=ParameterizedJobConfig(payload="forbidden")),
        "Parameterized job can only be used",
        "2.0.5",
    ),
    (
        "payload",
        lambda s, h: job(h, parameterized_job=ParameterizedJobConfig(payload="maybe")),
        "Unknown payload",
        "2.0.5",
    ),
    ("no-groups", lambda s, h: job(s, task_groups=[]), "Missing job task groups", "2.0.5"),
    ("dup-group", lambda s, h: job(s, task_groups=[s.task_groups[0]] * 2), "redefines", "2.0.5"),
    ("max-count", lambda s, h: group(s, count=50_001), "exceeds job_max_count", "1.11"),
    (
        "job-reschedule",
        lambda s, h: job(
            s,
            reschedule=ReschedulePolicy(
                attempts=1, interval=S, delay=S, delay_function="constant", unlimited=False
            ),
        ),
        "Delay cannot be less than 5s",
        "2.0.5",
    ),
    # group
    ("count-neg", lambda s, h: group(s, count=-1), "count can't be negative", "2.0.5"),
    ("no-tasks", lambda s, h: group(s, tasks=[]), "Missing tasks", "2.0.5"),
    ("mrd-zero", lambda s, h: group(h, max_run_duration=0), "greater than zero", "2.0.5"),
    ("mrd-service", lambda s, h: group(s, max_run_duration=S), "does not allow max_run_duration", "2.0.5"),
    ("mrd-old", lambda s, h: group(h, max_run_duration=S), "max_run_duration needs Nomad >= 2.0.3", "2.0.2"),
    (
        "op-unknown",
        lambda s, h: group(s, constraints=[Constraint(ltarget="${attr.x}", operand="like", rtarget="y")]),
        "Unknown constraint type",
        "2.0.5",
    ),
    (
        "op-no-rtarget",
        lambda s, h: group(s, constraints=[Constraint(ltarget="${attr.x}", operand="=")]),
        "requires an RTarget",
        "2.0.5",
    ),
    (
        "op-set",
        lambda s, h: group(s, constraints=[Constraint(ltarget="${meta.x}", operand="set_contains")]),
        "requires an RTarget",
        "2.0.5",
    ),
    (
        "op-regexp",
        lambda s, h: group(s, constraints=[Constraint(ltarget="${attr.x}", operand="regexp", rtarget="(")]),
        "failed to compile",
        "2.0.5",
    ),
    (
        "op-is-set",
        lambda s, h: group(s, constraints=[Constraint(ltarget="${attr.x}", operand="is_set", rtarget="1")]),
        "does not support an RTarget",
        "2.0.5",
    ),
    (
        "op-attr",
        lambda s, h: group(s, constraints=[Constraint(ltarget="${node.rack}", operand="=", rtarget="1")]),
        "unsupported attribute target",
        "2.0.5",
    ),
    (
        "op-no-attr",
        lambda s, h: group(s, constraints=[Constraint(operand="=", rtarget="1")]),
        "no attribute provided",
        "2.0.5",
    ),
    (
        "restart-ambiguous",
        lambda s, h: group(
            s, restart_policy=RestartPolicy(attempts=0, interval=60 * S, delay=S, mode="delay")
        ),
        "is ambiguous",
        "2.0.5",
    ),
    (
        "restart-interval",
        lambda s, h: group(s, restart_policy=RestartPolicy(attempts=0, interval=S, delay=S, mode="fail")),
        "Interval can not be less than 5s",
        "2.0.5",
    ),
    (
        "restart-delays",
        lambda s, h: group(
            s, restart_policy=RestartPolicy(attempts=5, interval=10 * S, delay=5 * S, mode="fail")
        ),
        "can't restart",
        "2.0.5",
    ),
    (
        "resched-fn",
        lambda s, h: group(
            s,
            reschedule_policy=ReschedulePolicy(
                attempts=0, unlimited=True, delay=10 * S, delay_function="linear"
            ),
        ),
        "Invalid delay function",
        "2.0.5",
    ),
    (
        "resched-max",
        lambda s, h: group(
            s,
            reschedule_policy=ReschedulePolicy(
                attempts=0, unlimited=True, delay=10 * S, delay_function="exponential", max_delay=6 * S
            ),
        ),
        "Max Delay",
        "2.0.5",
    ),
    (
        "resched-both",
        lambda s, h: group(
            s,
            reschedule_policy=ReschedulePolicy(
                attempts=2, interval=60 * S, unlimited=True, delay=10 * S, delay_function="constant"
            ),
        ),
        "Unlimited cannot also",
        "2.0.5",
    ),
    (
        "resched-interval",
        lambda s, h: group(
            s,
            reschedule_policy=ReschedulePolicy(
                attempts=2, interval=10 * S, unlimited=False, delay=5 * S, delay_function="constant"
            ),
        ),
        "Interval cannot be less than 15s",
        "2.0.5",
    ),
    (
        "resched-sys",
        lambda s, h: job(
            s, type="system", task_groups=[s.task_groups[0].model_copy(update={"update": None})]
        ),
        "should not have a reschedule policy",
        "2.0.5",
    ),
    ("disconnect-old", lambda s, h: s, "disconnect block needs Nomad >= 1.8", "1.7"),
    (
        "reconcile",
        lambda s, h: group(s, disconnect=DisconnectStrategy(reconcile="newest")),
        "invalid reconcile",
        "2.0.5",
    ),
    ("lost-neg", lambda s, h: group(s, disconnect=DisconnectStrategy(lost_after=-1)), "negative", "2.0.5"),
    (
        "disk",
        lambda s, h: group(s, ephemeral_disk=EphemeralDisk(size_mb=5)),
        "minimum DiskMB value is 10",
        "2.0.5",
    ),
    (
        "update-batch",
        lambda s, h: group(h, update=s.task_groups[0].update),
        "does not allow update block",
        "2.0.5",
    ),
    (
        "update-check",
        lambda s, h: group(s, update=s.task_groups[0].update.model_copy(update={"health_check": "ping"})),
        "Invalid health check",
        "2.0.5",
    ),
    (
        "update-times",
        lambda s, h: group(
            s,
            update=UpdateStrategy(
                max_parallel=1,
                health_check="checks",
                min_healthy_time=60 * S,
                healthy_deadline=30 * S,
                progress_deadline=0,
                auto_revert=False,
            ),
        ),
        "Minimum healthy time must be less",
        "2.0.5",
    ),
    (
        "update-progress",
        lambda s, h: group(
            s,
            update=UpdateStrategy(
                max_parallel=1,
                health_check="checks",
                min_healthy_time=S,
                healthy_deadline=30 * S,
                progress_deadline=20 * S,
                auto_revert=False,
            ),
        ),
        "less than progress deadline",
        "2.0.5",
    ),
    (
        "port-dup",
        lambda s, h: group(s, networks=[NetworkResource(dynamic_ports=[Port(label="a"), Port(label="a")])]),
        "already in use",
        "2.0.5",
    ),
    (
        "port-static",
        lambda s, h: group(s, networks=[NetworkResource(reserved_ports=[Port(label="a", value=70000)])]),
        "cannot be greater than 65535",
        "2.0.5",
    ),
    (
        "port-static-dup",
        lambda s, h: group(
            s,
            networks=[NetworkResource(reserved_ports=[Port(label="a", value=80), Port(label="b", value=80)])],
        ),
        "already reserved",
        "2.0.5",
    ),
    # task
    ("task-alloc", lambda s, h: task(s, name="alloc"), 'cannot be named "alloc"', "2.0.5"),
    ("task-slash", lambda s, h: task(s, name="a/b"), "cannot include slashes", "2.0.5"),
    ("task-dup", lambda s, h: group(s, tasks=[s.task_groups[0].tasks[0]] * 2), "redefines", "2.0.5"),
    ("driver", lambda s, h: task(s, driver=""), "Missing task driver", "2.0.5"),
    (
        "command",
        lambda s, h: task(s, config=s.task_groups[0].tasks[0].config.model_copy(update={"command": ""})),
        "raw_exec needs a command",
        "2.0.5",
    ),
    ("kill-neg", lambda s, h: task(s, kill_timeout=-1), "KillTimeout must be a positive value", "2.0.5"),
    (
        "kill-long",
        lambda s, h: task(s, kill_timeout=3600 * S),
        "longer than the group's ProgressDeadline",
        "2.0.5",
    ),
    ("cpu", lambda s, h: resources(s, cpu=0), "minimum CPU value is 1", "2.0.5"),
    (
        "memory",
        lambda s, h: resources(s, memory_mb=5, memory_max_mb=None),
        "minimum MemoryMB value is 10",
        "2.0.5",
    ),
    (
        "memory-max",
        lambda s, h: resources(s, memory_mb=500, memory_max_mb=100),
        "should be larger than MemoryMB",
        "2.0.5",
    ),
    (
        "memory-unlimited-old",
        lambda s, h: resources(s, memory_max_mb=-1),
        "memory_max = -1 needs Nomad >= 1.11.2",
        "1.11.1",
    ),
    (
        "device",
        lambda s, h: resources(s, devices=[RequestedDevice(name="nvidia/gpu", count=0)]),
        "device count must be at least 1",
        "2.0.5",
    ),
    (
        "logs",
        lambda s, h: group(s, ephemeral_disk=EphemeralDisk(size_mb=20)),
        "log storage (20 MB) must be less",
        "2.0.5",
    ),
    (
        "task-distinct",
        lambda s, h: task(s, constraints=[Constraint(operand="distinct_hosts", rtarget="true")]),
        "disallowed Operand at task level",
        "2.0.5",
    ),
    ("env-key", lambda s, h: task(s, env={"A=B": "x"}), "environment variable name", "2.0.5"),
    ("svc-name", lambda s, h: services(s, svc(s, name="bad_name")), "valid per RFC 1123", "2.0.5"),
    ("svc-long", lambda s, h: services(s, svc(s, name="a" * 64)), "no longer than 63", "2.0.5"),
    ("svc-port", lambda s, h: services(s, svc(s, port_label="nope")), "does not exist", "2.0.5"),
    ("svc-meta", lambda s, h: services(s, svc(s, meta={"a.b": "x"})), "Consul meta key", "2.0.5"),
    ("svc-meta-long", lambda s, h: services(s, svc(s, meta={"a": "x" * 513})), "longer than 512", "2.0.5"),
    ("svc-dup", lambda s, h: services(s, svc(s), svc(s)), "Services are not unique", "2.0.5"),
    (
        "check-interval",
        lambda s, h: services(
            s, svc(s, checks=[ServiceCheck(name="c", type="tcp", interval=S // 2, timeout=S)])
        ),
        "interval cannot be lower than 1s",
        "2.0.5",
    ),
    (
        "check-timeout",
        lambda s, h: services(s, svc(s, checks=[ServiceCheck(name="c", type="tcp", interval=S, timeout=0)])),
        "timeout is lower",
        "2.0.5",
    ),
    (
        "check-type",
        lambda s, h: services(s, svc(s, checks=[ServiceCheck(name="c", type="ping", interval=S, timeout=S)])),
        "invalid check type",
        "2.0.5",
    ),
    (
        "check-port",
        lambda s, h: services(
            s, svc(s, port_label=None, checks=[ServiceCheck(name="c", type="tcp", interval=S, timeout=S)])
        ),
        "missing a port",
        "2.0.5",
    ),
    ("check-dup", lambda s, h: services(s, svc(s, checks=[svc(s).checks[0]] * 2)), "is duplicate", "2.0.5"),
    ("tmpl-dest-dup", lambda s, h: task(s, templates=[tmpl(), tmpl()]), "same destination", "2.0.5"),
    (
        "tmpl-escape",
        lambda s, h: task(s, templates=[tmpl(dest_path="../../etc/x")]),
        "escapes allocation directory",
        "2.0.5",
    ),
    (
        "tmpl-abs",
        lambda s, h: task(s, templates=[tmpl(dest_path="/etc/x")]),
        "escapes allocation directory",
        "2.0.5",
    ),
    ("tmpl-empty", lambda s, h: task(s, templates=[tmpl(embedded_tmpl="")]), "embedded template", "2.0.5"),
    (
        "tmpl-signal-env",
        lambda s, h: task(s, templates=[tmpl(change_mode="signal", envvars=True)]),
        "cannot use signals",
        "2.0.5",
    ),
    (
        "tmpl-mode",
        lambda s, h: task(s, templates=[tmpl(change_mode="reload")]),
        "change_mode must be",
        "2.0.5",
    ),
    ("tmpl-perms", lambda s, h: task(s, templates=[tmpl(perms="0999")]), "as octal", "2.0.5"),
    (
        "tmpl-missing-key-old",
        lambda s, h: task(s, templates=[tmpl(err_missing_key=True)]),
        "error_on_missing_key needs Nomad >= 1.5",
        "1.4",
    ),
    (
        "vault-policies-new",
        lambda s, h: task(s, vault=Vault(policies=["p"])),
        "removed in Nomad 1.10",
        "1.10",
    ),
    (
        "vault-role-old",
        lambda s, h: task(s, vault=Vault(role="r")),
        "vault role (workload identity) needs Nomad >= 1.7",
        "1.6",
    ),
    ("vault-empty", lambda s, h: task(s, vault=Vault()), "needs a role", "2.0.5"),
    (
        "vault-mode",
        lambda s, h: task(s, vault=Vault(role="r", change_mode="reload")),
        "Unknown change mode",
        "2.0.5",
    ),
    (
        "consul-old",
        lambda s, h: task(s, consul=Consul()),
        "task-level consul block needs Nomad >= 1.7",
        "1.6",
    ),
]


@pytest.mark.parametrize(("mutate", "message", "version"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_fails(mutate, message, version):
    service, hook = base()
    broken = mutate(service, hook)
    found = check_job(broken, V(version))
    assert any(message in v.message for v in found), [str(v) for v in found]


def test_violations_name_the_role_path():
    service, _ = base()
    broken = resources(service, cpu=0)
    (v,) = check_job(broken, V("2.0.5"))
    assert v.role_path == "readout-dataflow.host-flp001.readout"
    assert v.location == "TaskGroups[flp001].Tasks[readout].Resources.CPU"
    assert v.job_id == service.id
    broken = group(service, count=-1)
    (v,) = check_job(broken, V("2.0.5"))
    assert v.role_path == "readout-dataflow.host-flp001"


def test_validation_error_is_a_plan_error_with_details():
    service, _ = base()
    broken = resources(service, cpu=0, memory_mb=1, memory_max_mb=None)
    with pytest.raises(JobValidationError) as exc:
        validate([broken], V("2.0.5"))
    err = exc.value
    assert isinstance(err, PlanError)
    assert err.exit_code == 2
    assert err.one_line().startswith(
        "readout-dataflow.host-flp001.readout: TaskGroups[flp001].Tasks[readout]"
    )
    assert "minimum CPU value is 1" in err.one_line()
    assert err.details() == [
        "  (2 problems)",
        f"  readout-dataflow.host-flp001.readout: job {service.id}: "
        "TaskGroups[flp001].Tasks[readout].Resources.MemoryMB: minimum MemoryMB value is 10; got 1",
    ]


def test_cross_job_rules():
    service, hook = base()
    assert check_jobs([service, hook], V("2.0.5")) == []
    dup = check_jobs([service, service])
    assert any("two jobs of the environment have this ID" in v.message for v in dup)
    other = job(service, id="other", name="other")
    clash = check_jobs([service, other])
    assert any("service name also used by" in v.message for v in clash)


@pytest.mark.parametrize("version", ["1.6", "1.10", "2.0", "2.0.5"])
def test_rendered_examples_are_valid_for_their_version(version):
    opts = RenderOptions(nomad_version=V(version))
    for plan in (flp_epn_plan(3), kitchen_sink_plan()):
        render(plan, opts)  # raises on any violation
