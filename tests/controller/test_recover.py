"""The rules for an interrupted transition (``recover.diagnose``): one case per rule."""

from __future__ import annotations

import pytest

from nomadctl.controller import recover
from nomadctl.controller.record import EnvRecord, InProgress
from nomadctl.controller.recover import Action, Observation
from nomadctl.lifecycle.fsm import State
from nomadctl.lifecycle.hooks import HookIndex
from nomadctl.lifecycle.state import Environment
from tests.lifecycle._support import call, task

HEALTHY = Observation(jobs_expected=2, jobs_registered=2, groups_total=2, groups_ready=2)
HALF = Observation(jobs_expected=2, jobs_registered=1, groups_total=2, groups_ready=1)
NO_HOOKS = HookIndex.build("e1", (), ())


def record(state: State, transition: str, step: str, **ip: object) -> EnvRecord:
    return EnvRecord(
        env_id="e1",
        workflow="wf",
        repo="/repo",
        seed=1,
        manifest_sha="sha",
        created_ns=1,
        created_by="me",
        lifecycle=Environment("e1", state=state),
        in_progress=InProgress(transition, str(state), 5, "host:1", step=step, **ip),  # type: ignore[arg-type]
    )


def test_teardown_interrupted_only_destroy_continues() -> None:
    d = recover.diagnose(record(State.DEPLOYED, "DESTROY", "DESTROY"), HEALTHY, NO_HOOKS)
    assert d.action is Action.TEARDOWN
    assert "destroy" in d.next_step()


def test_go_error_interrupted_forces_error_and_closes_the_run() -> None:
    rec = record(State.RUNNING, "GO_ERROR", "before_GO_ERROR")
    rec = rec.with_(lifecycle=rec.lifecycle.with_run_number(7))
    d = recover.diagnose(rec, HEALTHY, NO_HOOKS)
    assert d.action is Action.FORCE_ERROR
    assert d.env.state is State.ERROR
    assert d.env.run_number is None
    assert d.env.last_run_number == 7


@pytest.mark.parametrize("step", ["", "before_DEPLOY", "leave_STANDBY"])
def test_before_the_task_step_is_a_cancelled_transition(step: str) -> None:
    d = recover.diagnose(record(State.STANDBY, "DEPLOY", step), HEALTHY, NO_HOOKS)
    assert d.action is Action.GO_ERROR
    assert d.env.state is State.STANDBY
    assert "task step was not reached" in d.description


def test_start_interrupted_after_allocating_keeps_the_open_run_for_go_error() -> None:
    d = recover.diagnose(
        record(State.CONFIGURED, "START_ACTIVITY", "before_START_ACTIVITY", run_number=42), HEALTHY, NO_HOOKS
    )
    assert d.action is Action.GO_ERROR
    assert d.env.run_number == 42  # GO_ERROR sees the open run and closes it


def test_deploy_task_step_complete_in_nomad_finishes_the_bookkeeping() -> None:
    d = recover.diagnose(record(State.STANDBY, "DEPLOY", "tasks_DEPLOY"), HEALTHY, NO_HOOKS)
    assert d.action is Action.FINISH
    assert d.env.state is State.DEPLOYED
    assert "jobs registered 2/2; 2/2 groups healthy" in d.description
    assert "finishes the bookkeeping (state DEPLOYED)" in d.next_step()


def test_deploy_task_step_incomplete_is_go_error_from_the_source() -> None:
    d = recover.diagnose(record(State.STANDBY, "DEPLOY", "tasks_DEPLOY"), HALF, NO_HOOKS)
    assert d.action is Action.GO_ERROR
    assert d.env.state is State.STANDBY
    assert "incomplete" in d.description


def test_after_the_task_step_critical_hooks_not_run_mean_go_error() -> None:
    hooks = HookIndex.build(
        "e1", (task("wf.h.t", "enter_CONFIGURED", critical=False),), (call("wf.c.crit", "after_CONFIGURE"),)
    )
    d = recover.diagnose(record(State.DEPLOYED, "CONFIGURE", "enter_CONFIGURED"), HEALTHY, hooks)
    assert d.action is Action.GO_ERROR
    assert d.env.state is State.CONFIGURED
    assert "wf.c.crit" in d.reason
    assert "wf.h.t" not in d.reason


def test_after_the_task_step_only_non_critical_hooks_finish() -> None:
    hooks = HookIndex.build("e1", (task("wf.h.t", "enter_CONFIGURED", critical=False),), ())
    d = recover.diagnose(record(State.DEPLOYED, "CONFIGURE", "after_CONFIGURE"), HEALTHY, hooks)
    assert d.action is Action.FINISH
    assert d.env.state is State.CONFIGURED


def test_stop_finished_clears_the_run_number() -> None:
    rec = record(State.RUNNING, "STOP_ACTIVITY", "tasks_STOP_ACTIVITY")
    rec = rec.with_(lifecycle=rec.lifecycle.with_run_number(9))
    d = recover.diagnose(rec, HEALTHY, NO_HOOKS)
    assert d.action is Action.FINISH
    assert d.env.state is State.CONFIGURED
    assert d.env.run_number is None
    assert d.env.last_run_number == 9


def test_stop_with_the_run_job_still_alive_is_incomplete() -> None:
    obs = Observation(2, 2, 2, 2, run_jobs_expected=1, run_job_alive=True)
    d = recover.diagnose(record(State.RUNNING, "STOP_ACTIVITY", "tasks_STOP_ACTIVITY"), obs, NO_HOOKS)
    assert d.action is Action.GO_ERROR
    assert d.env.state is State.RUNNING


def test_unhealthy_groups_or_unknown_hooks_are_go_error() -> None:
    unhealthy = Observation(2, 2, 2, 1)
    assert (
        recover.diagnose(record(State.DEPLOYED, "CONFIGURE", "after_CONFIGURE"), unhealthy, NO_HOOKS).action
        is Action.GO_ERROR
    )
    assert (
        recover.diagnose(record(State.DEPLOYED, "CONFIGURE", "after_CONFIGURE"), HEALTHY, None).action
        is Action.GO_ERROR
    )


def test_needs_a_transition_in_progress() -> None:
    rec = record(State.STANDBY, "DEPLOY", "").with_(in_progress=None)
    with pytest.raises(ValueError, match="in progress"):
        recover.diagnose(rec, HEALTHY, NO_HOOKS)
