import pytest

from nomadctl.lifecycle.hooks import HookIndex
from nomadctl.triggers import Point
from tests.lifecycle._support import call, index, task


def test_index_by_moment_and_weight_in_plan_order() -> None:
    hooks = index(
        call("wf.a", "before_DEPLOY"),
        task("wf.h1", "before_DEPLOY"),
        call("wf.b", "before_DEPLOY"),
        task("wf.h2", "before_DEPLOY+1"),
        call("wf.c", "before_DEPLOY-100", "before_DEPLOY-100"),
        task("wf.readout"),  # not a hook
    )
    assert hooks.weights("before_DEPLOY") == {-100, 0, 1}
    assert [c.path for c in hooks.calls_at("before_DEPLOY", 0)] == ["wf.a", "wf.b"]
    assert [t.path for t in hooks.tasks_at("before_DEPLOY", 0)] == ["wf.h1"]
    assert [t.path for t in hooks.tasks_at("before_DEPLOY", 1)] == ["wf.h2"]
    assert hooks.calls_at("before_DEPLOY", 5) == ()
    assert [t.path for t in hooks.tasks] == ["wf.h1", "wf.h2", "wf.readout"]
    assert hooks.weights("after_DEPLOY") == frozenset()


def test_await_defaults_to_trigger() -> None:
    hooks = index(call("wf.a", "before_CONFIGURE+5"), call("wf.b", "before_CONFIGURE", "after_CONFIGURE-1"))
    a, b = hooks.calls
    assert a.await_ == Point("before_CONFIGURE", 5)
    assert a.traits.await_ == "before_CONFIGURE+5"
    assert b.await_ == Point("after_CONFIGURE", -1)


def test_calls_without_trigger_are_not_hooks() -> None:
    assert index(call("wf.a", "")).calls == ()


def test_keys_are_unique_even_for_duplicate_paths() -> None:
    hooks = index(call("wf.a", "before_DEPLOY"), call("wf.a", "before_DEPLOY"), call("wf.a", "after_DEPLOY"))
    assert [c.key for c in hooks.calls] == ["wf.a", "wf.a#2", "wf.a#3"]
    assert hooks.call("wf.a#2").trigger == Point("before_DEPLOY")
    with pytest.raises(KeyError):
        hooks.call("nope")


def test_task_hook_key_and_name() -> None:
    hooks = index(task("wf.h", "DESTROY"))
    (h,) = hooks.task_hooks
    assert h.key == "id-wf.h"
    assert h.name == "shell-command#id-wf.h"
    with pytest.raises(KeyError):
        hooks.call(h.key)
    assert hooks.hook(h.key) is h
    assert hooks.is_destroy_hook(h.task)


def test_from_plan_uses_plan_env_id() -> None:
    from nomadctl.plan import EnvironmentPlan, RoleKind, RoleNode

    plan = EnvironmentPlan(
        env_id="abc",
        workflow="wf",
        repo="r",
        root=RoleNode(path="wf", name="wf", kind=RoleKind.AGGREGATOR),
        tasks=(task("wf.h", "before_DEPLOY"),),
        calls=(call("wf.c", "after_DEPLOY"),),
        vars={},
        user_vars={},
        manifest_sha="0",
    )
    hooks = HookIndex.from_plan(plan)
    assert hooks.env_id == "abc"
    assert len(hooks.calls) == 1
    assert len(hooks.task_hooks) == 1


def test_a_sane_schedule_has_no_warnings() -> None:
    hooks = index(
        call("wf.pi", "before_DEPLOY", "after_DEPLOY-1"),
        call("wf.start", "before_START_ACTIVITY+100", "after_START_ACTIVITY-10"),
        call("wf.kafka", "leave_ERROR"),
        call("wf.dcs", "DESTROY"),
        task("wf.clean", "before_DEPLOY", critical=False),
    )
    assert hooks.warnings == ()


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        (call("wf.g", "CONFIGURE"), "wf.g: trigger 'CONFIGURE': moment 'CONFIGURE' never fires"),
        (task("wf.g", "CONFIGURE"), "moment 'CONFIGURE' never fires"),
        (call("wf.g", "after_EXIT"), "never fires (EXIT and RECOVER cannot be requested)"),
        (call("wf.g", "before_RECOVER"), "EXIT and RECOVER cannot be requested"),
        (call("wf.g", "enter_STANDBY"), "moment 'enter_STANDBY' never fires"),
        (call("wf.g", "before_DESTROY"), "teardown runs no before_DESTROY hooks"),
        (
            call("wf.g", "before_DEPLOY", "after_DEPLY"),
            "await 'after_DEPLY': moment 'after_DEPLY' never fires",
        ),
        (
            call("wf.g", "before_START_ACTIVITY+abc"),
            "weight is not an integer, AliECS uses before_START_ACTIVITY+0",
        ),
        (call("wf.g", "after_CONFIGURE", "before_CONFIGURE"), "awaited at the next before_CONFIGURE+0"),
        (call("wf.g", "before_CONFIGURE+5", "before_CONFIGURE+1"), "does not follow trigger"),
        (call("wf.g", "after_START_ACTIVITY", "before_STOP_ACTIVITY"), "in START_ACTIVITY from CONFIGURED"),
    ],
)
def test_warnings(item: object, fragment: str) -> None:
    hooks = index(item)  # type: ignore[arg-type]
    assert any(fragment in w for w in hooks.warnings), hooks.warnings


def test_leave_configured_await_enter_running_is_carried_in_reset_and_go_error() -> None:
    (w,) = index(call("wf.g", "leave_CONFIGURED", "enter_RUNNING")).warnings
    assert "RESET from CONFIGURED" in w
    assert "GO_ERROR from CONFIGURED" in w
    assert "START_ACTIVITY" not in w


def test_task_hook_await_is_ignored_with_a_warning() -> None:
    from dataclasses import replace

    t = replace(task("wf.h", "before_CONFIGURE"), await_="after_CONFIGURE")
    (w,) = index(t).warnings
    assert "await 'after_CONFIGURE' is ignored: task hooks run synchronously" in w


def test_teardown_call_await_is_ignored_with_a_warning() -> None:
    (w,) = index(call("wf.g", "DESTROY", "after_DESTROY")).warnings
    assert "teardown calls run synchronously" in w
