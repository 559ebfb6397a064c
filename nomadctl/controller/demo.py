"""The lifecycle demo: one environment from ``examples/`` through its whole life, step by step.

``run_demo`` creates an environment, walks DEPLOY → CONFIGURE → START_ACTIVITY → (shows tasks,
services and the run number) → STOP_ACTIVITY → RESET → teardown, printing each step with its
duration, and finally checks that Nomad and Consul hold nothing of the environment any more.
``nomadctl demo`` (``cli/demo.py``) runs it on the simulated farm, or on a real cluster when
``NOMAD_ADDR`` is set; ``demo_inputs`` prepares the real-cluster case (hosts from the ready
nodes, stand-in executables from ``examples/o2``, the nodes added to the example inventory).

AliECS plugins nomadctl does not ship are mapped to ``noop`` explicitly (``DEMO_NOOP_PLUGINS``),
and the demo says so.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nomadctl.controller.errors import TransitionFailed
from nomadctl.controller.model import CreateRequest, TransitionReport
from nomadctl.controller.service import Controller
from nomadctl.controller.status import EnvStatus
from nomadctl.errors import NomadctlError
from nomadctl.manifest import load_var_files

DEMO_NOOP_PLUGINS = ("dcs", "trg", "ddsched", "ccdb", "bookkeeping", "lhc", "kafka")
DEMO_WORKFLOW = "flp-dataflow"
DEMO_VAR_FILE = "vars/flp-dev.yaml"
DEMO_PROVIDERS = "providers.yaml"


@dataclass(frozen=True, slots=True)
class DemoStep:
    name: str
    seconds: float
    ok: bool
    detail: str = ""


@dataclass
class DemoResult:
    env_id: str = ""
    steps: list[DemoStep] = field(default_factory=list)
    running: EnvStatus | None = None
    leftovers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps) and not self.leftovers

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)


@dataclass(frozen=True, slots=True)
class DemoInputs:
    """What the demo creates: the request's user variables and KV overlay."""

    repo: str
    workflow: str
    user_vars: Mapping[str, str]
    providers: str
    kv_overlay: Mapping[str, str] = field(default_factory=dict)

    def request(self) -> CreateRequest:
        """The create request of the demo's environment (unshipped plugins mapped to noop)."""
        return CreateRequest(
            workflow=self.workflow,
            repo=self.repo,
            user_vars=self.user_vars,
            providers=self.providers,
            kv_overlay=self.kv_overlay,
            plugins=dict.fromkeys(DEMO_NOOP_PLUGINS, "noop"),
        )


def demo_inputs(repo: str, *, hosts: Sequence[str] | None = None, real: bool = False) -> DemoInputs:
    """The demo's inputs from the example config repo ``repo``.

    ``hosts`` replaces the var file's hosts (a real cluster's ready nodes); ``real`` points
    ``o2_install_path`` at the stand-in executables of ``examples/o2`` and runs tasks as the
    Nomad agent's user. Hosts unknown to the example inventory are added to it (detector TST,
    one card, a readout configuration) through the KV overlay.
    """
    root = Path(repo)
    user_vars = load_var_files([str(root / DEMO_VAR_FILE)])
    overlay: dict[str, str] = {}
    if hosts is not None:
        user_vars["hosts"] = json.dumps(list(hosts), separators=(",", ":"))
        for host in hosts:
            overlay[f"o2/hardware/detectors/TST/flps/{host}/nic"] = "lo"
            overlay[f"o2/hardware/flps/{host}/cards"] = '[{"serial":"0000","endpoint":"0"}]'
            overlay[f"o2/components/readout/ANY/any/readout-{host}"] = f"[readout]\nname=readout-{host}\n"
    if real:
        user_vars["o2_install_path"] = str((root / "o2").resolve())
        user_vars["user"] = ""
    return DemoInputs(str(root), DEMO_WORKFLOW, user_vars, str(root / DEMO_PROVIDERS), overlay)


def _step(result: DemoResult, out: Callable[[str], None], name: str, action: Callable[[], str]) -> bool:
    start = time.perf_counter()
    try:
        detail = action()
        ok = True
    except NomadctlError as err:
        detail, ok = f"{err.kind}: {err.one_line()}", False
    seconds = time.perf_counter() - start
    result.steps.append(DemoStep(name, seconds, ok, detail))
    out(f"{'ok ' if ok else 'FAILED'} {name:<16} {seconds:6.2f} s  {detail}")
    return ok


def _transition(controller: Controller, env_id: str, event: str) -> str:
    report = controller.transition(env_id, event)
    _check(report)
    run = f", run {report.run_number}" if report.run_number else ""
    return f"{report.source} -> {report.state}{run}" + (
        f" ({len(report.warnings)} warnings)" if report.warnings else ""
    )


def _check(report: TransitionReport) -> None:
    if not report.ok:
        raise TransitionFailed(
            f"{report.transition} failed: {report.error or report.verdict}; now {report.final_state}", report
        )


def run_demo(controller: Controller, inputs: DemoInputs, out: Callable[[str], None]) -> DemoResult:
    """Walk one environment through its life; ``out`` receives one line per step."""
    result = DemoResult()
    out(
        f"plugins {', '.join(DEMO_NOOP_PLUGINS)} are mapped to noop for the demo: their calls "
        "succeed without doing anything (and say so in their call events)"
    )

    def create() -> str:
        created = controller.create(inputs.request())
        result.env_id = created.env_id
        hosts = inputs.user_vars.get("hosts", "?")
        return f"environment {created.env_id} ({inputs.workflow}, hosts {hosts}): STANDBY"

    if not _step(result, out, "create", create):
        return result
    env_id = result.env_id
    walked = True
    for event in ("DEPLOY", "CONFIGURE", "START_ACTIVITY"):
        if not _step(result, out, event, functools.partial(_transition, controller, env_id, event)):
            walked = False
            break
    if walked:

        def show() -> str:
            status = controller.show(env_id, events=0)
            result.running = status
            running = sum(1 for t in status.tasks if t.state == "running")
            for g in status.groups:
                out(
                    f"       group   {g.name:<28} {g.healthy}/{g.count} healthy (nmin {g.nmin}) "
                    f"on job {g.job}"
                )
            for t in status.tasks:
                out(f"       task    {t.path:<60} {t.state} on {t.node or '-'}")
            for s in status.services:
                out(f"       service {s.name:<44} {s.passing}/{s.instances} passing (Consul)")
            out(f"       note    {status.process_control}")
            return (
                f"run {status.run_number}: {running}/{len(status.tasks)} tasks running, "
                f"{len(status.services)} services"
            )

        _step(result, out, "show", show)
        for event in ("STOP_ACTIVITY", "RESET"):
            if not _step(result, out, event, functools.partial(_transition, controller, env_id, event)):
                break

    def teardown() -> str:
        report = controller.destroy(env_id, force=not result.ok)
        _check(report)
        return f"{report.source} -> {report.state}: every job deregistered, DESTROY hooks run"

    _step(result, out, "teardown", teardown)

    def verify() -> str:
        jobs = [j.id for j in controller.observer.env_jobs(env_id)]
        services = [s.name for s in controller.show(env_id, events=0).services]
        result.leftovers = [f"job {j}" for j in jobs] + [f"service {s}" for s in services]
        if result.leftovers:
            raise TransitionFailed("left behind: " + ", ".join(result.leftovers))
        return "no job, allocation or Consul service of the environment is left"

    _step(result, out, "verify", verify)
    out(f"{'demo done' if result.ok else 'demo FAILED'} in {result.seconds:.2f} s")
    return result
