"""Integration plugins: testplugin, noop, odc, http and the registry's create-time check."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence

import httpx
import pytest

from nomadctl.controller.errors import PluginError
from nomadctl.controller.plugins import CallContext, CallRequest, GroupSnapshot, PluginRegistry, parse_func
from nomadctl.controller.plugins.http import HttpPlugin
from nomadctl.controller.plugins.noop import NoopPlugin
from nomadctl.controller.plugins.odc import OdcPlugin
from nomadctl.controller.plugins.testplugin import TestPlugin
from nomadctl.controller.settings import PluginSpec, Settings
from tests.lifecycle._support import call


class FakeEnv:
    def __init__(self, groups: Sequence[GroupSnapshot] = (), running: Sequence[str] = ()) -> None:
        self._groups = list(groups)
        self._running = list(running)
        self.stopped: list[str] = []

    def groups(self) -> Sequence[GroupSnapshot]:
        return self._groups

    def stop_groups(self, names: Sequence[str]) -> list[str]:
        jobs = [g.job_id for g in self._groups if g.name in names]
        self.stopped += jobs
        self._running = []
        return jobs

    def running_jobs(self, names: Sequence[str]) -> list[str]:
        return list(self._running)


def request(func: str, **vars_: str) -> CallRequest:
    ref = parse_func(func)
    assert ref is not None
    return CallRequest(
        env_id="e1",
        func=ref,
        vars={"__call_rolepath": "wf.checks.c", **vars_},
        timeout=5.0,
        role_path="wf.checks.c",
        trigger="before_CONFIGURE",
        await_="before_CONFIGURE",
        critical=True,
    )


def ctx(env: FakeEnv | None = None) -> CallContext:
    return CallContext(cancel=threading.Event(), environment=env or FakeEnv())


def test_parse_func() -> None:
    ref = parse_func(" odc.Start( a, b ) ")
    assert ref is not None
    assert (ref.plugin, ref.function, ref.args) == ("odc", "Start", "a, b")
    assert parse_func("not a call") is None


# --- testplugin -----------------------------------------------------------------------------------


def test_testplugin_test_sets_called_and_fails_on_request() -> None:
    p = TestPlugin()
    ok = p.call(request("testplugin.Test()"), ctx())
    assert not ok.failed
    assert ok.vars == {"wf.checks.c_called": "true"}
    failed = p.call(request("testplugin.Test()", testplugin_fail="TRUE"), ctx())
    assert failed.error == "error triggered in testplugin.Test call"
    # Go's ParseBool: anything else is false
    assert not p.call(request("testplugin.Test()", testplugin_fail="yes"), ctx()).failed
    assert p.call(request("testplugin.Noop()", testplugin_message="hello"), ctx()).note == "hello"


def test_testplugin_hang_waits_for_cancel() -> None:
    context = ctx()
    context.cancel.set()  # the controller gave up on it: the plugin returns at once
    result = TestPlugin().call(request("testplugin.Test()", testplugin_hang="true"), context)
    assert result.failed
    assert "hung" in result.error


def test_testplugin_observers() -> None:
    p = TestPlugin()
    seen = p.call(
        request("testplugin.TimestampObserver()", run_start_time_ms="17", run_end_time_ms="0"), ctx()
    )
    assert seen.vars == {"wf.checks.c_called": "true", "wf.checks.c_saw_run_start_time_ms": "true"}
    first = p.call(request("testplugin.CallOrderObserver()"), ctx())
    assert first.vars == {"call_history": "wf.checks.c"}
    second = p.call(request("testplugin.CallOrderObserver()", call_history="a,b"), ctx())
    assert second.vars == {"call_history": "a,b,wf.checks.c"}


def test_noop_says_it_did_nothing() -> None:
    result = NoopPlugin("dcs").call(request("dcs.PrepareForRun()"), ctx())
    assert not result.failed
    assert result.output == "not executed: plugin 'dcs' is mapped to noop (dcs.PrepareForRun())"


# --- odc ------------------------------------------------------------------------------------------

EPN = GroupSnapshot("reco", "aliecs-e1-reco", "replicated", count=4, nmin=3, healthy=3, state="DEGRADED")
FLP = GroupSnapshot("flp001", "aliecs-e1-flp001", "host", count=1, nmin=1, healthy=1, state="OK")


def test_odc_process_level_calls_say_nothing_was_sent() -> None:
    result = OdcPlugin().call(request("odc.Start()"), ctx(FakeEnv([EPN, FLP])))
    assert not result.failed
    assert "no process-level START sent" in result.note
    assert "reco 3/4 healthy (nmin 3)" in result.note


def test_odc_reset_checks_nmin() -> None:
    assert not OdcPlugin().call(request("odc.Reset()"), ctx(FakeEnv([EPN]))).failed
    below = GroupSnapshot("reco", "j", "replicated", count=4, nmin=3, healthy=2, state="FAILED")
    result = OdcPlugin().call(request("odc.Reset()"), ctx(FakeEnv([below])))
    assert result.failed
    assert "below NMIN: reco 2/4" in result.error


def test_odc_terminate_stops_and_cleanup_verifies() -> None:
    env = FakeEnv([EPN, FLP], running=["aliecs-e1-reco"])
    cleanup = OdcPlugin().call(request("odc.EnsureCleanup()"), ctx(env))
    assert "still running: aliecs-e1-reco" in cleanup.note
    assert env.stopped == ["aliecs-e1-reco"]
    assert OdcPlugin().call(request("odc.EnsureCleanup()"), ctx(env)).note.endswith("the EPN groups are gone")
    env2 = FakeEnv([EPN, FLP])
    assert "stopped aliecs-e1-reco" in OdcPlugin().call(request("odc.PartitionTerminate()"), ctx(env2)).note
    assert env2.stopped == ["aliecs-e1-reco"]  # never the FLP groups


def test_odc_without_epn_group_is_a_noop_that_says_so() -> None:
    result = OdcPlugin().call(request("odc.PartitionTerminate()"), ctx(FakeEnv([FLP])))
    assert not result.failed
    assert "no EPN (replicated) group" in result.note


# --- http -----------------------------------------------------------------------------------------


def test_http_plugin_posts_the_call_and_reads_the_answer() -> None:
    seen: list[dict[str, object]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(json.loads(req.content))
        return httpx.Response(200, json={"output": "sor-ok", "vars": {"dcs_sor_done": "true"}})

    plugin = HttpPlugin(
        "dcs", "https://gw.example/aliecs?token=secret", transport=httpx.MockTransport(handler)
    )
    result = plugin.call(request("dcs.StartOfRun()", run_number="7"), ctx())
    assert not result.failed
    assert result.output == "sor-ok"
    assert result.vars == {"dcs_sor_done": "true"}
    assert seen[0]["func"] == "dcs.StartOfRun()"
    assert seen[0]["vars"]["run_number"] == "7"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(503, text="down"), "HTTP 503"),
        (httpx.Response(200, text="<html>"), "not JSON"),
        (httpx.Response(200, json={"error": "detector busy", "reason": "TPC"}), "detector busy. REASON: TPC"),
    ],
)
def test_http_plugin_failures_are_one_line_without_the_query(response: httpx.Response, message: str) -> None:
    plugin = HttpPlugin(
        "dcs", "https://user:pw@gw.example/x?token=secret", transport=httpx.MockTransport(lambda r: response)
    )
    result = plugin.call(request("dcs.StartOfRun()"), ctx())
    assert result.failed
    assert message in result.message
    assert "secret" not in result.message
    assert "pw" not in result.message


def test_http_plugin_transport_errors_do_not_leak_httpx() -> None:
    def boom(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    result = HttpPlugin("dcs", "https://gw.example/x", transport=httpx.MockTransport(boom)).call(
        request("dcs.X()"), ctx()
    )
    assert result.error == "plugin dcs: POST https://gw.example/x: ConnectError"


# --- registry -------------------------------------------------------------------------------------


def test_registry_refuses_unshipped_plugins_and_unknown_functions() -> None:
    registry = PluginRegistry(Settings().plugin_specs())
    calls = [
        call("wf.a", "before_CONFIGURE", func="dcs.PrepareForRun()"),
        call("wf.b", "DESTROY", func="testplugin.Nope()"),
    ]
    problems = registry.problems(calls)
    assert "wf.a: call dcs.PrepareForRun() needs plugin 'dcs'" in problems[0]
    assert "plugin testplugin has no function Nope" in problems[1]
    with pytest.raises(PluginError) as err:
        registry.check(calls)
    assert err.value.exit_code == 2
    assert err.value.kind == "Plugin"
    mapped = PluginRegistry(Settings().plugin_specs({"dcs": "noop"}))
    assert mapped.problems(calls[:1]) == []
    assert mapped.noop_names() == ["dcs"]


def test_plugin_specs() -> None:
    assert PluginSpec.parse("dcs", "http:https://gw/x") == PluginSpec("http", "https://gw/x")
    assert str(PluginSpec.parse("odc", "odc")) == "odc"
    from nomadctl.errors import UsageError

    with pytest.raises(UsageError, match="expected noop"):
        PluginSpec.parse("dcs", "ftp://x")
