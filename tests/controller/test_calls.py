"""Calls on the thread pool: variables, enforced timeouts, results across awaits, cancellation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from nomadctl.controller.calls import CallRunner, RuntimeVars
from nomadctl.controller.plugins import CallContext, CallRequest, CallResult, PluginRegistry
from nomadctl.controller.settings import Settings
from nomadctl.lifecycle.hooks import HookIndex
from nomadctl.lifecycle.schedule import HookStatus
from tests.controller.test_plugins import FakeEnv
from tests.lifecycle._support import call


class FakeClock:
    """Monotonic time that only moves when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def now_ns(self) -> int:
        return int(self.now * 1e9)

    def monotonic(self) -> float:
        return self.now


class Gate:
    """A plugin whose calls block until released (or cancelled); records what it saw."""

    name = "gate"
    functions = None

    def __init__(self) -> None:
        self.release = threading.Event()
        self.seen: list[CallRequest] = []
        self.cancelled = threading.Event()

    def call(self, request: CallRequest, context: CallContext) -> CallResult:
        self.seen.append(request)
        while not self.release.wait(0.01):
            if context.cancel.is_set():
                self.cancelled.set()
                return CallResult(error="cancelled")
        return CallResult(output="done", vars={"gate_seen": request.func.function})


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as p:
        yield p


def runner(pool: ThreadPoolExecutor, clock: FakeClock, gate: Gate | None = None) -> CallRunner:
    registry = PluginRegistry(Settings().plugin_specs())
    if gate is not None:
        registry._plugins["gate"] = gate
    return CallRunner(
        "e1", registry, pool, clock=clock, runtime=RuntimeVars({"global": "g"}), environment=FakeEnv()
    )


def hooks_of(*calls: object) -> HookIndex:
    return HookIndex.build("e1", (), calls)  # type: ignore[arg-type]


def test_vars_are_aliecs_consolidated_stack(pool: ThreadPoolExecutor) -> None:
    gate = Gate()
    gate.release.set()
    c = call("wf.g.one", "before_CONFIGURE", "after_CONFIGURE", func="gate.One()", timeout="7s")
    h = hooks_of(c).calls[0]
    r = runner(pool, FakeClock(), gate)
    r.start([h], {"run_number": "3"})
    (result,) = r.await_([h])
    assert result.status is HookStatus.OK
    assert result.output == "done"
    v = gate.seen[0].vars
    assert v["run_number"] == "3"
    assert v["global"] == "g"
    assert v["environment_id"] == "e1"
    assert (v["__call_func"], v["__call_timeout"], v["__call_await"], v["__call_rolepath"]) == (
        "gate.One()",
        "7s",
        "after_CONFIGURE",
        "wf.g.one",
    )
    assert r.runtime.snapshot()["gate_seen"] == "One"


def test_timeout_is_enforced_and_the_plugin_cancelled(pool: ThreadPoolExecutor) -> None:
    gate, clock = Gate(), FakeClock()
    h = hooks_of(call("wf.g.slow", "before_CONFIGURE", func="gate.Slow()", timeout="2s")).calls[0]
    r = runner(pool, clock, gate)
    r.start([h], {})
    clock.now += 5  # past the deadline: no waiting
    (result,) = r.await_([h])
    assert result.status is HookStatus.TIMED_OUT
    assert gate.cancelled.wait(5)


def test_a_call_started_elsewhere_has_no_result_here(pool: ThreadPoolExecutor) -> None:
    h = hooks_of(call("wf.g.x", "before_CONFIGURE", func="testplugin.Noop()")).calls[0]
    (result,) = runner(pool, FakeClock()).await_([h])
    assert result.status is HookStatus.FAILED
    assert "another controller process" in result.message


def test_cancel_reports_finished_calls_and_abandons_the_rest(pool: ThreadPoolExecutor) -> None:
    gate = Gate()
    done = hooks_of(call("wf.g.done", "before_CONFIGURE", func="testplugin.Noop()")).calls[0]
    hanging = hooks_of(call("wf.g.hang", "before_CONFIGURE", func="gate.Hang()")).calls[0]
    r = runner(pool, FakeClock(), gate)
    r.start([done, hanging], {})
    r._running[done.key].future.result(timeout=5)
    results = r.cancel([done, hanging])
    assert [x.key for x in results] == [done.key]
    assert gate.cancelled.wait(5)


def test_run_is_sequential_and_failures_carry_the_plugin_message(pool: ThreadPoolExecutor) -> None:
    calls = hooks_of(
        call("wf.d.one", "DESTROY", func="testplugin.CallOrderObserver()"),
        call("wf.d.two", "DESTROY", func="testplugin.CallOrderObserver()"),
        call("wf.d.bad", "DESTROY", func="nope.Thing()"),
    ).calls
    r = runner(pool, FakeClock())
    results = r.run(calls, {})
    assert [x.status for x in results] == [HookStatus.OK, HookStatus.OK, HookStatus.FAILED]
    assert r.runtime.snapshot()["call_history"] == "wf.d.one,wf.d.two"
    assert "no plugin 'nope'" in results[2].message
