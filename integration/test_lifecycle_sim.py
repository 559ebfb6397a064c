"""End-to-end lifecycle on the simulated farm: the controller, its clients and a farm speaking
Nomad's and Consul's HTTP APIs on loopback.

The test workflow (``tests/controller/data/repo``) has per host a long-running controlled task
and a DESTROY hook, a run-scoped task, and hooks/calls switched on by variables; hook outcomes
come from the farm's ``NOMADCTL_SIM_*`` task variables.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from nomadctl.cli import cli
from nomadctl.clients.config import ConsulConfig, NomadConfig
from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.nomad import NomadClient
from nomadctl.controller.errors import (
    EnvironmentBusy,
    ManifestChanged,
    PlacementRefused,
    PluginError,
    TransitionRefused,
)
from nomadctl.controller.model import CreateRequest
from nomadctl.controller.service import Controller
from nomadctl.controller.settings import Settings
from nomadctl.lifecycle.events import CallEvent, EnvironmentEvent, Event, OpStatus, RunEvent, TaskEvent
from nomadctl.sim import NodeSpec, SimFarm

DATA = Path(__file__).resolve().parents[1] / "tests" / "controller" / "data"
REPO = DATA / "repo"
PROVIDERS = DATA / "providers.yaml"
HOSTS = ["flp001", "flp002"]
# render for the version the farm reports (2.0.5), as the controller does for a real agent
SIM_VERSION = "2.0.5"


class Killed(BaseException):
    """Stands for the controller process dying at a checkpoint (nothing catches it)."""


@pytest.fixture(scope="module")
def farm() -> Iterator[SimFarm]:
    with SimFarm([NodeSpec(name=h, node_class="flp") for h in HOSTS], start_latency=0.02, seed=3) as f:
        yield f


@pytest.fixture
def clients(farm: SimFarm) -> Iterator[tuple[NomadClient, ConsulClient]]:
    nomad = NomadClient(NomadConfig(address=farm.nomad_addr))
    consul = ConsulClient(ConsulConfig(address=farm.consul_addr))
    yield nomad, consul
    nomad.close()
    consul.close()


def settings(**overrides: object) -> Settings:
    base: dict[str, object] = {
        "nomad_version": SIM_VERSION,
        "lock_delay": 0,
        "lock_wait": 5,
        "deploy_timeout": 10,
        "release_timeout": 10,
        "max_wait": 5,
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
def controller(clients: tuple[NomadClient, ConsulClient], events: list[Event]) -> Iterator[Controller]:
    nomad, consul = clients
    with Controller(nomad, consul, settings(), listeners=[events.append]) as c:
        yield c


def create(
    controller: Controller, repo: Path = REPO, plugins: dict[str, str] | None = None, **variables: str
) -> str:
    user_vars = {"hosts": json.dumps(HOSTS), **variables}
    request = CreateRequest(
        "lifecycle", str(repo), user_vars=user_vars, providers=str(PROVIDERS), plugins=plugins or {}
    )
    return controller.create(request).env_id


def env_events(events: list[Event], env_id: str) -> list[Event]:
    return [e for e in events if getattr(e.payload, "environment_id", "") == env_id]


def step_index(
    events: list[Event], transition: str, step: str, message: str = "transition step starting"
) -> int:
    for i, e in enumerate(events):
        p = e.payload
        if (
            isinstance(p, EnvironmentEvent)
            and p.transition == transition
            and p.transition_step == step
            and p.message == message
        ):
            return i
    raise AssertionError(f"no event {transition} {step} {message!r}")


def call_index(events: list[Event], path: str, status: OpStatus) -> int:
    for i, e in enumerate(events):
        if isinstance(e.payload, CallEvent) and e.payload.path == path and e.payload.call_status is status:
            return i
    raise AssertionError(f"no call event {path} {status.name}")


def live_jobs(nomad: NomadClient, env_id: str) -> list[str]:
    return [j.id for j in nomad.jobs(prefix=f"aliecs-{env_id}").data]


def env_services(consul: ConsulClient, env_id: str) -> list[str]:
    return [n for n, tags in consul.catalog_services().data.items() if f"env-{env_id}" in tags]


# --- the full lifecycle -------------------------------------------------------------------------------


def test_full_lifecycle(
    controller: Controller, clients: tuple[NomadClient, ConsulClient], events: list[Event]
) -> None:
    nomad, consul = clients
    env_id = create(controller)
    assert controller.record(env_id).state == "STANDBY"

    assert controller.deploy(env_id).state == "DEPLOYED"
    groups = {g.ref.name: g for g in controller.groups(env_id)}
    assert {n: (g.health.healthy, g.health.count) for n, g in groups.items()} == {
        "flp001": (1, 1),
        "flp002": (1, 1),
    }
    assert {g.allocs[0].node_name for g in groups.values()} == set(HOSTS)  # pinned to their hosts

    assert controller.configure(env_id).state == "CONFIGURED"
    started = controller.start(env_id)
    assert started.ok
    assert started.state == "RUNNING"
    run = started.run_number
    assert run is not None
    assert run == controller.runs.last()
    rec = controller.record(env_id)
    assert rec.run_job is not None
    assert rec.run_job.startswith(f"aliecs-{env_id}-run-lifecycle/dispatch-")
    run_allocs = nomad.job_allocations(rec.run_job).data
    assert [a.client_status for a in run_allocs] == ["running"]

    status = controller.show(env_id)
    assert status.run_number == run
    assert {t.path: t.state for t in status.tasks} == {
        "lifecycle.host-flp001.proc": "running",
        "lifecycle.host-flp002.proc": "running",
        "lifecycle.run": "running",
    }
    assert "no process-level (OCC) transition is sent" in status.process_control
    assert sorted(s.name for s in status.services) == sorted(env_services(consul, env_id))
    assert len(status.services) == 2

    stopped = controller.stop(env_id)
    assert stopped.state == "CONFIGURED"
    assert stopped.run_number is None
    assert controller.record(env_id).lifecycle.last_run_number == run
    assert all(a.client_status in ("complete", "failed") for a in nomad.job_allocations(rec.run_job).data)
    assert controller.reset(env_id).state == "DEPLOYED"

    done = controller.destroy(env_id)
    assert done.ok
    assert done.state == "DONE"
    assert live_jobs(nomad, env_id) == []
    assert env_services(consul, env_id) == []
    assert controller.record(env_id).jobs == ()

    mine = env_events(events, env_id)
    # the DESTROY hook ran on both hosts; the run had its START and STOP run events
    cleanups = [
        e.payload for e in mine if isinstance(e.payload, TaskEvent) and e.payload.path.endswith(".cleanup")
    ]
    assert sorted((t.hostname, t.state) for t in cleanups) == [("flp001", "DONE"), ("flp002", "DONE")]
    runs = [
        (str(e.payload.transition), e.payload.transition_status)
        for e in mine
        if isinstance(e.payload, RunEvent)
    ]
    assert ("START_ACTIVITY", OpStatus.DONE_OK) in runs
    assert ("STOP_ACTIVITY", OpStatus.DONE_OK) in runs
    # every event of the log is in AliECS's shapes and carries a time
    logged, _ = controller.events(env_id).read()
    assert len(logged) == len(mine)
    assert all(e.timestamp_ns for _, e in logged)
    assert {
        next(iter(k for k in e.to_dict() if k not in ("timestamp", "timestampNano"))) for _, e in logged
    } == {
        "environmentEvent",
        "taskEvent",
        "callEvent",
        "runEvent",
    }


def test_calls_awaited_across_moments(controller: Controller, events: list[Event]) -> None:
    env_id = create(controller)
    controller.deploy(env_id)
    controller.configure(env_id)
    mine = env_events(events, env_id)
    early = "lifecycle.order.early"
    # started at before_CONFIGURE-10, awaited only at after_CONFIGURE (after the task step and enter_)
    assert call_index(mine, early, OpStatus.STARTED) < step_index(mine, "CONFIGURE", "tasks_CONFIGURE")
    assert call_index(mine, early, OpStatus.DONE_OK) > step_index(mine, "CONFIGURE", "after_CONFIGURE")
    assert call_index(mine, "lifecycle.order.middle", OpStatus.DONE_OK) < step_index(
        mine, "CONFIGURE", "after_CONFIGURE"
    )
    # the calls ran in trigger order and their global runtime variables were recorded
    rec = controller.record(env_id)
    assert rec.runtime_vars["call_history"] == "lifecycle.order.early,lifecycle.order.middle"
    controller.start(env_id)
    # a START call sees the run-start time the core took before the positive weights
    assert controller.record(env_id).runtime_vars["lifecycle.order.stamps_saw_run_start_time_ms"] == "true"
    controller.destroy(env_id)


# --- failures -------------------------------------------------------------------------------------


def test_critical_hook_failure_cancels_start_and_goes_to_error(
    controller: Controller, clients: tuple[NomadClient, ConsulClient], events: list[Event]
) -> None:
    nomad, _ = clients
    env_id = create(controller, start_hook_enabled="true", start_hook_exit="3")
    controller.deploy(env_id)
    controller.configure(env_id)
    report = controller.start(env_id)
    assert not report.ok
    assert report.verdict == "cancelled"
    assert report.state == "CONFIGURED"  # cancelled: the state did not change
    assert "transition canceled with error" in report.error
    assert "non-zero exit code 3" in report.error
    assert report.go_error is not None
    assert report.go_error.state == "ERROR"
    assert report.final_state == "ERROR"
    rec = controller.record(env_id)
    assert rec.state == "ERROR"
    assert rec.run_job is None  # the run never started: the hook sits before the run-number allocation
    assert not any(isinstance(e.payload, RunEvent) for e in env_events(events, env_id))
    # GO_ERROR ran as a transition of its own, announced as AliECS announces it
    mine = env_events(events, env_id)
    assert any(
        isinstance(e.payload, EnvironmentEvent)
        and e.payload.message == "a critical error occurred, GO_ERROR transition imminent"
        for e in mine
    )
    assert step_index(mine, "GO_ERROR", "before_GO_ERROR") > 0
    # teardown from ERROR is forced and cleans up
    assert controller.destroy(env_id).state == "DONE"
    assert live_jobs(nomad, env_id) == []


def test_noncritical_hook_failure_keeps_the_run(controller: Controller) -> None:
    env_id = create(controller, noncrit_hook_enabled="true", noncrit_hook_exit="2")
    controller.deploy(env_id)
    controller.configure(env_id)
    report = controller.start(env_id)
    assert report.ok
    assert report.state == "RUNNING"
    assert any("non-zero exit code 2" in w for w in report.warnings)
    assert controller.record(env_id).last is not None
    assert any("exit code 2" in w for w in controller.record(env_id).last.warnings)  # type: ignore[union-attr]
    controller.destroy(env_id)


def test_hook_timeout(
    controller: Controller, clients: tuple[NomadClient, ConsulClient], events: list[Event]
) -> None:
    nomad, _ = clients
    env_id = create(controller, slow_hook_enabled="true", slow_hook_duration="inf", slow_hook_timeout="1s")
    controller.deploy(env_id)
    report = controller.configure(env_id)
    assert report.ok  # the slow hook is not critical
    assert any("timed out after 1s" in w for w in report.warnings)
    slow = [e.payload for e in env_events(events, env_id) if isinstance(e.payload, TaskEvent)]
    assert [(t.path, t.state) for t in slow] == [("lifecycle.slow", "ERROR")]
    # the timed-out hook does not outlive its step: its dispatched job was stopped
    children = [j for j in live_jobs(nomad, env_id) if "hook-before-configure/" in j]
    assert len(children) == 1
    allocs = nomad.job_allocations(children[0]).data
    assert allocs
    assert all(a.desired_status == "stop" for a in allocs)
    controller.destroy(env_id)


def test_placement_impossible_is_refused(
    controller: Controller, clients: tuple[NomadClient, ConsulClient]
) -> None:
    nomad, _ = clients
    request = CreateRequest(
        "lifecycle",
        str(REPO),
        user_vars={"hosts": json.dumps(["flp001", "flp009"])},  # flp009 is not in the farm
        providers=str(PROVIDERS),
    )
    env_id = controller.create(request).env_id
    with pytest.raises(PlacementRefused) as refused:
        controller.deploy(env_id)
    assert refused.value.exit_code == 2
    assert "group flp009" in str(refused.value)
    assert "0/1 placeable" in str(refused.value)
    assert "nodes evaluated" in str(refused.value)
    assert controller.record(env_id).state == "STANDBY"
    assert [j for j in live_jobs(nomad, env_id) if "hook" not in j] == []
    # its DESTROY hook on the missing host cannot be placed either: reported, not waited for
    report = controller.destroy(env_id)
    assert report.state == "DONE"
    assert any("could not be placed" in w for w in report.warnings)


# --- plugins, manifests ---------------------------------------------------------------------------


def test_unknown_plugin_is_refused_at_create_unless_mapped(
    controller: Controller, events: list[Event]
) -> None:
    with pytest.raises(PluginError, match=r"dcs\.StartOfRun\(\) needs plugin 'dcs'.*--plugin dcs=noop"):
        create(controller, dcs_enabled="true")
    env_id = create(controller, plugins={"dcs": "noop"}, dcs_enabled="true")
    controller.deploy(env_id)
    controller.configure(env_id)
    assert controller.start(env_id).ok
    dcs = [
        e.payload
        for e in env_events(events, env_id)
        if isinstance(e.payload, CallEvent) and e.payload.func.startswith("dcs.")
    ]
    assert dcs[-1].call_status is OpStatus.DONE_OK
    assert "not executed: plugin 'dcs' is mapped to noop" in dcs[-1].output
    controller.destroy(env_id)


def test_changed_manifests_refuse_transitions(controller: Controller, tmp_path: Path) -> None:
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo)
    env_id = create(controller, repo=repo)
    proc = repo / "tasks" / "proc.yaml"
    proc.write_text(proc.read_text().replace("sleep 3600", "sleep 7200"))
    with pytest.raises(ManifestChanged, match="changed since it was created"):
        controller.deploy(env_id)
    assert controller.record(env_id).state == "STANDBY"
    assert controller.destroy(env_id, force=True).state == "DONE"


# --- concurrency and crashes ----------------------------------------------------------------------


def test_concurrent_transitions_one_is_refused(
    clients: tuple[NomadClient, ConsulClient], events: list[Event]
) -> None:
    nomad, consul = clients
    inside = threading.Event()
    release = threading.Event()

    def hold(name: str) -> None:
        if name == "tasks_DEPLOY":
            inside.set()
            assert release.wait(10)

    with (
        Controller(nomad, consul, settings(), checkpoint=hold, listeners=[events.append]) as first,
        Controller(nomad, consul, settings(lock_wait=0)) as impatient,
        Controller(nomad, consul, settings(lock_wait=10)) as patient,
    ):
        env_id = create(first)
        results: dict[str, object] = {}
        worker = threading.Thread(target=lambda: results.setdefault("first", first.deploy(env_id)))
        worker.start()
        assert inside.wait(10)
        # the environment's lock is held: no wait means refused at once
        with pytest.raises(EnvironmentBusy, match="is busy"):
            impatient.deploy(env_id)
        # waiting: it gets the lock after the first DEPLOY, which leaves nothing to deploy
        waiter = threading.Thread(target=lambda: results.setdefault("second", _catch(patient.deploy, env_id)))
        waiter.start()
        release.set()
        worker.join(20)
        waiter.join(20)
        assert results["first"].ok  # type: ignore[attr-defined]
        assert isinstance(results["second"], TransitionRefused)
        assert "inappropriate in current state DEPLOYED" in str(results["second"])
        done = [
            e
            for e in env_events(events, env_id)
            if isinstance(e.payload, EnvironmentEvent)
            and e.payload.transition == "DEPLOY"
            and e.payload.transition_status is OpStatus.DONE_OK
        ]
        assert len(done) == 1  # never both
        assert all(
            j.version == 0 for j in (nomad.job(i).data for i in live_jobs(nomad, env_id) if "hook" not in i)
        )
        first.destroy(env_id)


def _catch(fn: object, *args: object) -> object:
    try:
        return fn(*args)  # type: ignore[operator]
    except TransitionRefused as err:
        return err


def test_controller_killed_mid_deploy_is_resumed(clients: tuple[NomadClient, ConsulClient]) -> None:
    nomad, consul = clients

    def die(name: str) -> None:
        if name == "tasks_DEPLOY:registered":
            raise Killed

    with Controller(nomad, consul, settings(), checkpoint=die) as doomed:
        env_id = create(doomed)
        with pytest.raises(Killed):
            doomed.deploy(env_id)
    with Controller(nomad, consul, settings()) as survivor:
        rec = survivor.record(env_id)
        assert rec.in_progress is not None
        assert (rec.in_progress.transition, rec.in_progress.step) == ("DEPLOY", "tasks_DEPLOY")
        assert rec.state == "STANDBY"
        # the farm starts the registered allocations in its own time (slower on a loaded machine)
        deadline = time.monotonic() + 10
        while "2/2 groups healthy" not in (survivor.show(env_id).in_progress or ""):
            assert time.monotonic() < deadline, survivor.show(env_id).in_progress
            time.sleep(0.05)
        # env show tells the truth without acting
        shown = survivor.show(env_id).in_progress
        assert "DEPLOY interrupted at tasks_DEPLOY" in shown
        assert "jobs registered 2/2" in shown
        assert "2/2 groups healthy" in shown
        assert "finishes the bookkeeping (state DEPLOYED)" in shown
        assert survivor.record(env_id).in_progress is not None
        # the next transition reconciles first, then proceeds
        report = survivor.configure(env_id)
        assert report.ok
        assert report.state == "CONFIGURED"
        assert any("recovered: DEPLOY interrupted at tasks_DEPLOY" in n for n in report.notes)
        rec = survivor.record(env_id)
        assert rec.in_progress is None
        assert survivor.destroy(env_id).state == "DONE"


def test_recovery_finishes_the_deploy_wait_of_allocations_still_starting(
    farm: SimFarm, clients: tuple[NomadClient, ConsulClient]
) -> None:
    # Killed right after registering while the tasks take 1 s to start: the next command must
    # finish the interrupted DEPLOY's wait (within deploy_timeout), not call it failed.
    nomad, consul = clients

    def die(name: str) -> None:
        if name == "tasks_DEPLOY:registered":
            raise Killed

    farm.faults.slow_start("*", 1.0)
    try:
        with Controller(nomad, consul, settings(), checkpoint=die) as doomed:
            env_id = create(doomed)
            with pytest.raises(Killed):
                doomed.deploy(env_id)
        with Controller(nomad, consul, settings()) as survivor:
            assert "0/2 groups healthy" in (survivor.show(env_id).in_progress or "")
            report = survivor.configure(env_id)
            assert report.ok, report
            assert report.state == "CONFIGURED"
            assert any("recovered: DEPLOY interrupted at tasks_DEPLOY" in n for n in report.notes)
            survivor.destroy(env_id)
    finally:
        farm.faults.clear()


def test_controller_killed_before_the_task_step_leads_to_go_error(
    clients: tuple[NomadClient, ConsulClient],
) -> None:
    nomad, consul = clients

    def die(name: str) -> None:
        if name == "before_DEPLOY":
            raise Killed

    with Controller(nomad, consul, settings(), checkpoint=die) as doomed:
        env_id = create(doomed)
        with pytest.raises(Killed):
            doomed.deploy(env_id)
    # the dead controller's session is what Consul would expire: take the lock with another
    # session and destroy it (what a TTL expiry does) to show a stale holder does not block
    lock_key = f"nomadctl/envs/{env_id}/lock"
    stale = consul.session_create("dead controller", ttl=10, lock_delay=0)
    assert consul.lock_acquire(lock_key, stale, b'{"controller": "dead:1"}')
    consul.session_destroy(stale)
    with Controller(nomad, consul, settings(lock_wait=0)) as survivor:
        assert "the next command issues GO_ERROR" in survivor.show(env_id).in_progress
        report = survivor.go_error(env_id, "operator")
        assert any("the task step was not reached" in n for n in report.notes)
        assert survivor.record(env_id).state == "ERROR"
        assert survivor.destroy(env_id).state == "DONE"
        assert live_jobs(nomad, env_id) == []


# --- teardown from RUNNING ------------------------------------------------------------------------


@pytest.mark.parametrize("force", [False, True])
def test_teardown_from_running(
    controller: Controller, clients: tuple[NomadClient, ConsulClient], events: list[Event], force: bool
) -> None:
    nomad, consul = clients
    env_id = create(controller)
    for step in (controller.deploy, controller.configure, controller.start):
        assert step(env_id).ok
    report = controller.destroy(env_id, force=force)
    assert report.ok
    assert report.state == "DONE"
    assert live_jobs(nomad, env_id) == []
    assert env_services(consul, env_id) == []
    rec = controller.record(env_id)
    assert rec.state == "DONE"
    assert rec.run_job is None
    assert rec.lifecycle.run_number is None
    transitions = [
        e.payload.transition
        for e in env_events(events, env_id)
        if isinstance(e.payload, EnvironmentEvent) and e.payload.message == "transition starting"
    ]
    runs = [str(e.payload.transition) for e in env_events(events, env_id) if isinstance(e.payload, RunEvent)]
    if force:  # straight to teardown: the run ends with AliECS's TEARDOWN run events
        assert transitions[-1] == "START_ACTIVITY"
        assert "TEARDOWN" in runs
    else:  # as AliECS's DestroyEnvironment: stop the run and reset first
        assert transitions[-2:] == ["STOP_ACTIVITY", "RESET"]
        assert "TEARDOWN" not in runs


# --- watch and CLI --------------------------------------------------------------------------------


def test_watch_follows_events_until_teardown(controller: Controller) -> None:
    env_id = create(controller)
    seen: list[Event] = []
    watcher = threading.Thread(target=lambda: seen.extend(controller.watch(env_id, timeout=30)))
    watcher.start()
    controller.deploy(env_id)
    controller.destroy(env_id)
    watcher.join(30)
    assert not watcher.is_alive()
    last = seen[-1].payload
    assert isinstance(last, EnvironmentEvent)
    assert last.message == "environment teardown complete"
    assert any(isinstance(e.payload, EnvironmentEvent) and e.payload.transition == "DEPLOY" for e in seen)


def test_cli_env_commands(farm: SimFarm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOMAD_ADDR", farm.nomad_addr)
    monkeypatch.setenv("CONSUL_HTTP_ADDR", farm.consul_addr)
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    runner = CliRunner()
    base = ["env", "--lock-wait", "5", "--deploy-timeout", "10"]
    common = ["--repo", str(REPO), "--providers", str(PROVIDERS), "--var", f"hosts={json.dumps(HOSTS)}"]
    created = runner.invoke(
        cli, [*base, "create", "lifecycle", *common, "--nomad-version", SIM_VERSION, "--json", "-q"]
    )
    assert created.exit_code == 0, created.output
    env_id = json.loads(created.stdout)["env_id"]

    refused = runner.invoke(cli, [*base, "start", env_id, "-q"])
    assert refused.exit_code == 2
    assert refused.stderr.strip().startswith("Lifecycle: environment")
    assert "inappropriate" in refused.stderr

    deployed = runner.invoke(cli, [*base, "deploy", env_id])
    assert deployed.exit_code == 0, deployed.output
    assert "DEPLOY ok: STANDBY -> DEPLOYED" in deployed.stdout
    assert "tasks_DEPLOY" in deployed.stderr  # events printed live

    shown = runner.invoke(cli, [*base, "show", env_id, "--json"])
    status = json.loads(shown.stdout)
    assert status["state"] == "DEPLOYED"
    assert [(g["name"], g["healthy"], g["count"], g["nmin"]) for g in status["groups"]] == [
        ("flp001", 1, 1, 1),
        ("flp002", 1, 1, 1),
    ]
    listed = json.loads(runner.invoke(cli, [*base, "list", "--json"]).stdout)
    assert env_id in [e["env_id"] for e in listed]

    text = runner.invoke(cli, [*base, "show", env_id]).stdout
    assert f"environment {env_id}" in text
    assert "process control:" in text

    assert runner.invoke(cli, [*base, "transition", env_id, "configure", "-q"]).exit_code == 0
    failed = runner.invoke(cli, [*base, "transition", env_id, "GO_ERROR", "-q"])
    assert failed.exit_code == 0  # a requested GO_ERROR that ran is a success
    assert json.loads(runner.invoke(cli, [*base, "show", env_id, "--json"]).stdout)["state"] == "ERROR"
    destroyed = runner.invoke(cli, [*base, "destroy", env_id, "-q", "--json"])
    assert destroyed.exit_code == 0
    assert json.loads(destroyed.stdout)["state"] == "DONE"
    watched = runner.invoke(cli, [*base, "watch", env_id, "--json", "--timeout", "10"])
    assert watched.exit_code == 0
    lines = [json.loads(line) for line in watched.stdout.splitlines()]
    assert lines[-1]["environmentEvent"]["message"] == "environment teardown complete"
    missing = runner.invoke(cli, [*base, "show", "nope"])
    assert missing.exit_code == 2
    assert "not found" in missing.stderr


def test_cli_failed_transition_exits_1(farm: SimFarm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOMAD_ADDR", farm.nomad_addr)
    monkeypatch.setenv("CONSUL_HTTP_ADDR", farm.consul_addr)
    runner = CliRunner()
    base = ["env", "--lock-wait", "5", "--deploy-timeout", "10"]
    args = ["create", "lifecycle", "--repo", str(REPO), "--providers", str(PROVIDERS), "--auto", "-q"]
    args += [
        "--var",
        f"hosts={json.dumps(HOSTS)}",
        "--var",
        "slow_hook_enabled=true",
        "--nomad-version",
        SIM_VERSION,
    ]
    ok = runner.invoke(cli, [*base, *args])
    assert ok.exit_code == 0, ok.output
    env_id = ok.stdout.splitlines()[0]
    assert "CONFIGURE ok" in ok.stdout
    failing = runner.invoke(cli, [*base, "start", env_id, "-q"])
    assert failing.exit_code == 0
    # a critical failure: the START of an environment whose start hook fails
    args2 = [a if a != "slow_hook_enabled=true" else "start_hook_enabled=true" for a in args]
    args2 += ["--var", "start_hook_exit=4"]
    second = runner.invoke(cli, [*base, *args2])
    env2 = second.stdout.splitlines()[0]
    bad = runner.invoke(cli, [*base, "start", env2, "-q"])
    assert bad.exit_code == 1
    assert bad.stderr.startswith("Lifecycle: START_ACTIVITY of")
    assert "now ERROR" in bad.stderr
    for env in (env_id, env2):
        assert runner.invoke(cli, [*base, "destroy", env, "-q"]).exit_code == 0


def test_demo_runs_on_the_simulated_farm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOMAD_ADDR", raising=False)
    result = CliRunner().invoke(
        cli, ["demo", "--repo", str(Path(__file__).resolve().parents[1] / "examples")]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    for step in (
        "create",
        "DEPLOY",
        "CONFIGURE",
        "START_ACTIVITY",
        "show",
        "STOP_ACTIVITY",
        "RESET",
        "teardown",
        "verify",
    ):
        assert f"ok  {step}" in out
    assert "mapped to noop" in out
    assert "demo done" in out
    assert "running on flp001" in out
    assert "passing (Consul)" in out


class FakeVault:
    """Answers ``kv_exists`` from a dict of existing secret paths, as ``VaultClient`` does."""

    def __init__(self, secrets: set[str]) -> None:
        self.secrets = secrets
        self.checked: list[str] = []

    def kv_exists(self, path: str, *, mount: str | None = None) -> bool:
        self.checked.append(f"{mount}/{path}")
        return f"{mount}/{path}" in self.secrets


def test_vault_references_are_checked_at_create(
    clients: tuple[NomadClient, ConsulClient], tmp_path: Path
) -> None:
    import shutil

    from nomadctl.controller.errors import SecretMissing

    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo)
    proc = repo / "tasks" / "proc.yaml"
    proc.write_text(
        proc.read_text().replace(
            "    - O2_PARTITION=", "    - BK_TOKEN=vault:secret/aliecs/bk#token\n    - O2_PARTITION="
        )
    )
    nomad, consul = clients
    vault = FakeVault(set())
    with Controller(nomad, consul, settings(), vault=vault) as c:  # type: ignore[arg-type]
        with pytest.raises(SecretMissing) as missing:
            create(c, repo=repo)
        assert "vault secret secret/aliecs/bk (task " in str(missing.value)
        assert str(missing.value).endswith("env BK_TOKEN): no such secret")
        assert not c.list_envs(), "a refused create leaves no environment record"
        vault.secrets.add("secret/aliecs/bk")
        env_id = create(c, repo=repo)
        assert vault.checked == ["secret/aliecs/bk", "secret/aliecs/bk"]
        c.destroy(env_id)


def test_placement_rules_of_the_policies_are_checked_before_deploy(
    clients: tuple[NomadClient, ConsulClient],
) -> None:
    from nomadctl.errors import PlanError
    from nomadctl.policies.admission import NamespaceRules, PlacementTable

    nomad, consul = clients
    epn_only = PlacementTable(
        {"default": NamespaceRules("default", ("epn",), 1, 100, None, ("raw_exec",), ())}, ("epn",)
    )
    with Controller(nomad, consul, settings(), placement=epn_only) as c:
        env_id = create(c)
        with pytest.raises(
            PlanError, match=r"refused by the placement rules: .*node pool default is not allowed"
        ):
            c.deploy(env_id)
        assert c.record(env_id).state == "STANDBY"
        assert live_jobs(nomad, env_id) == []
    flp = PlacementTable(
        {"default": NamespaceRules("default", ("default",), 1, 100, 60, ("raw_exec",), ())}, ("default",)
    )
    with Controller(nomad, consul, settings(), placement=flp) as c:
        assert c.deploy(env_id).ok
        # the namespace's default priority was filled in
        assert {nomad.job(j).data.priority for j in live_jobs(nomad, env_id) if "hook" not in j} == {60}
        c.destroy(env_id)


def test_tokens_never_reach_job_specs_kv_records_events_or_logs(
    farm: SimFarm, caplog: pytest.LogCaptureFixture
) -> None:
    # Security baseline: the controller's own Nomad and Consul tokens travel only in request
    # headers; a whole lifecycle leaves them in no registered job, KV value, event or log line.
    import logging
    import secrets as pysecrets

    nomad_token = "nomad-" + pysecrets.token_hex(16)
    consul_token = "consul-" + pysecrets.token_hex(16)
    nomad = NomadClient(NomadConfig(address=farm.nomad_addr, token=nomad_token))
    consul = ConsulClient(ConsulConfig(address=farm.consul_addr, token=consul_token))
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG), Controller(nomad, consul, settings()) as c:
        env_id = create(c)
        for step in (c.deploy, c.configure, c.start):
            assert step(env_id).ok
        jobs = nomad.jobs(prefix=f"aliecs-{env_id}").data
        seen += [json.dumps(nomad.job(job.id).data.model_dump(mode="json")) for job in jobs]
        events = [e.to_json_line() for _, e in c.events(env_id).read()[0]]
        records = [(e.value or b"").decode() for e in consul.kv_list("").data]
        assert len(jobs) >= 3
        assert len(events) > 10
        assert any(env_id in r for r in records)
        seen += events + records
        assert c.stop(env_id).ok
        c.destroy(env_id)
    nomad.close()
    consul.close()
    seen.append(caplog.text)
    for text in seen:
        assert nomad_token not in text
        assert consul_token not in text
