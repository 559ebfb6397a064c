"""Small pure pieces: record serialisation, hook verdicts, scheduler reasons, settings, events."""

from __future__ import annotations

import json

import pytest

from nomadctl.cli.env import format_event
from nomadctl.clients.nomad_models import AllocationListStub, AllocationMetric
from nomadctl.controller.errors import TransitionRefused
from nomadctl.controller.hooks import judge_alloc
from nomadctl.controller.observe import needed
from nomadctl.controller.record import EnvRecord, InProgress, Keys, LastTransition
from nomadctl.controller.service import Controller
from nomadctl.controller.settings import Settings, parse_plugin_options
from nomadctl.controller.tasks import metric_reasons
from nomadctl.errors import LifecycleError, UsageError
from nomadctl.jobspec import GroupKind, GroupRef, JobKind
from nomadctl.lifecycle.events import CallEvent, EnvironmentEvent, Event, OpStatus
from nomadctl.lifecycle.fsm import State, Transition
from nomadctl.lifecycle.state import Environment


def test_record_round_trip_and_format_check() -> None:
    rec = EnvRecord(
        env_id="e1",
        workflow="wf",
        repo="/r",
        seed=5,
        manifest_sha="abc",
        created_ns=1,
        created_by="me",
        lifecycle=Environment("e1", state=State.RUNNING).with_run_number(12),
        user_vars={"hosts": '["a"]'},
        jobs=("aliecs-e1-a",),
        run_job="aliecs-e1-run/dispatch-1",
        in_progress=InProgress(
            "STOP_ACTIVITY", "RUNNING", 3, "h:1", step="tasks_STOP_ACTIVITY", run_number=12
        ),
        last=LastTransition("START_ACTIVITY", "ok", "CONFIGURED", "RUNNING", 1, 2, warnings=("w",)),
        render={"nomad_version": "1.11.1", "datacenters": ["*"]},
    )
    text = json.dumps(rec.to_dict())
    back = EnvRecord.from_dict(json.loads(text), modify_index=9)
    assert back.to_dict() == rec.to_dict()
    assert back.modify_index == 9
    with pytest.raises(LifecycleError, match="record format"):
        EnvRecord.from_dict({**rec.to_dict(), "format": 99})
    with pytest.raises(LifecycleError, match="malformed environment record"):
        EnvRecord.from_dict({"format": 1})


def test_keys_layout() -> None:
    k = Keys("ecs")
    assert (k.record("e1"), k.lock("e1"), k.events("e1"), k.run_number) == (
        "ecs/envs/e1",
        "ecs/envs/e1/lock",
        "ecs/envs/e1/events/",
        "ecs/run_number",
    )


def stub(
    status: str,
    *,
    exit_code: int | None = None,
    failed: bool = False,
    description: str = "",
    events: list[dict[str, object]] | None = None,
) -> AllocationListStub:
    evs = (
        events
        if events is not None
        else ([{"Type": "Terminated", "ExitCode": exit_code}] if exit_code is not None else [])
    )
    return AllocationListStub.model_validate(
        {
            "ID": "a1",
            "JobID": "j",
            "TaskGroup": "g",
            "DesiredStatus": "run",
            "ClientStatus": status,
            "ClientDescription": description,
            "NodeName": "flp001",
            "TaskStates": {
                "t": {"State": "dead" if status != "running" else "running", "Failed": failed, "Events": evs}
            },
        }
    )


def test_hook_verdicts() -> None:
    assert judge_alloc(stub("running"), "t") is None
    assert judge_alloc(stub("complete", exit_code=0), "t") == (
        judge_alloc(stub("complete", exit_code=0), "t")
    )
    status, _, code = judge_alloc(stub("complete", exit_code=0), "t")  # type: ignore[misc]
    assert (status.value, code) == ("ok", 0)
    status, _, code = judge_alloc(stub("failed", exit_code=3, failed=True), "t")  # type: ignore[misc]
    assert (status.value, code) == ("failed", 3)
    # Nomad >= 2.0.3 ends an allocation past max_run_duration as complete: a timeout
    status, _, _ = judge_alloc(  # type: ignore[misc]
        stub("complete", exit_code=0, description="allocation exceeded max_run_duration"), "t"
    )
    assert status.value == "timed_out"
    status, message, code = judge_alloc(  # type: ignore[misc]
        stub("failed", failed=True, events=[{"Type": "Driver Failure", "DriverError": "no such file"}]), "t"
    )
    assert status.value == "failed"
    assert code is None
    assert "Driver Failure: no such file" in message


def test_metric_reasons_read_like_nomad_job_plan() -> None:
    m = AllocationMetric.model_validate(
        {
            "NodesEvaluated": 2,
            "NodesFiltered": 2,
            "NodesInPool": 2,
            "NodePool": "default",
            "ConstraintFiltered": {"${node.unique.name} = flp009": 2},
            "DimensionExhausted": {"memory": 1},
        }
    )
    assert metric_reasons(m) == (
        '2 nodes evaluated, 2 in pool default, 2 filtered, constraint "${node.unique.name} = flp009" '
        'filtered 2 nodes, dimension "memory" exhausted on 1 nodes'
    )


def test_needed_healthy_allocations() -> None:
    def ref(kind: GroupKind, count: int, nmin: int) -> GroupRef:
        return GroupRef("j", "g", kind, JobKind.SERVICE, "r", None, count, nmin, True, ())

    assert needed(ref(GroupKind.REPLICATED, 4, 3), True) == 3
    assert needed(ref(GroupKind.HOST, 1, 1), True) == 1
    assert needed(ref(GroupKind.HOST, 1, 0), False) == 0


def test_settings_validation() -> None:
    assert parse_plugin_options(("dcs=noop", "trg=http:https://gw/trg")) == {
        "dcs": "noop",
        "trg": "http:https://gw/trg",
    }
    with pytest.raises(UsageError, match="NAME=SPEC"):
        parse_plugin_options(("dcs",))
    with pytest.raises(UsageError, match="kv_prefix"):
        Settings(kv_prefix="/x")
    with pytest.raises(UsageError, match="deploy_timeout"):
        Settings(deploy_timeout=0)


def test_event_names_are_parsed_like_the_cli_takes_them() -> None:
    assert Controller.parse_event("start") is Transition.START_ACTIVITY
    assert Controller.parse_event("go-error") is Transition.GO_ERROR
    with pytest.raises(TransitionRefused, match="unknown event 'boot'"):
        Controller.parse_event("boot")


def test_event_lines() -> None:
    env = Event(
        EnvironmentEvent(
            "e1",
            state="DEPLOYED",
            transition="CONFIGURE",
            transition_step="before_CONFIGURE",
            transition_status=OpStatus.ONGOING,
            message="transition step starting",
        ),
        timestamp_ns=1_700_000_000_000_000_000,
    )
    line = format_event(env)
    assert "env" in line
    assert "CONFIGURE before_CONFIGURE" in line
    assert "transition step starting" in line
    failed = format_event(Event(CallEvent("dcs.SOR()", OpStatus.DONE_ERROR, error="busy", path="wf.dcs")))
    assert "DONE_ERROR" in failed
    assert "| busy" in failed
    assert failed.startswith("--:--")
