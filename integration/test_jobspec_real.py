"""Our job files against a real Nomad: accepted by its validator and parser, and a job runs.

Runs when a Nomad agent is reachable: ``NOMAD_ADDR`` (plus ``NOMAD_TOKEN`` if ACLs are on), or a
``nomad`` binary on PATH, with which the test starts ``nomad agent -dev`` on 127.0.0.1 itself.
Skips with the reason otherwise. The CLI checks (``nomad job validate``, ``nomad job run
-output``) need the binary; the HTTP checks need an agent.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nomadctl.jobspec import JobKind, NomadVersion, RenderOptions, render, to_api_json
from nomadctl.plan import ControlMode, Resources
from tests.jobspec.planbuilder import PlanBuilder

pytestmark = pytest.mark.real

ROOT = Path(__file__).resolve().parents[1]
JOBSPECS = sorted((ROOT / "jobspecs").glob("aliecs-*.json"))
NOMAD = shutil.which("nomad")
DEADLINE_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Agent:
    def __init__(self, addr: str, token: str | None) -> None:
        self.addr = addr.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.addr + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("X-Nomad-Token", self.token)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{method} {path}: HTTP {err.code}: {err.read().decode()[:500]}") from None
        return json.loads(text) if text else None

    def version(self) -> NomadVersion:
        info = self.call("GET", "/v1/agent/self")
        return NomadVersion.parse(info["config"]["Version"]["Version"])


@pytest.fixture(scope="module")
def agent() -> Iterator[Agent]:
    addr = os.environ.get("NOMAD_ADDR")
    if addr:
        yield Agent(addr, os.environ.get("NOMAD_TOKEN"))
        return
    if NOMAD is None:
        pytest.skip("no Nomad agent: set NOMAD_ADDR or put the `nomad` binary on PATH")
    port = _free_port()
    data_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"nomadctl-dev-{port}"
    proc = subprocess.Popen(
        [
            NOMAD,
            "agent",
            "-dev",
            "-bind",
            "127.0.0.1",
            "-network-interface",
            "lo",
            f"-data-dir={data_dir}",
            "-log-level",
            "WARN",
            "-config",
            _write_config(data_dir, port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    dev = Agent(f"http://127.0.0.1:{port}", None)
    try:
        _wait(lambda: _ready(dev), "dev agent to elect itself and register its node")
        yield dev
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)


def _write_config(data_dir: Path, port: int) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    conf = data_dir.parent / f"nomadctl-dev-{port}.hcl"
    conf.write_text(
        f"ports {{\n  http = {port}\n  rpc = {_free_port()}\n  serf = {_free_port()}\n}}\n"
        'plugin "raw_exec" {\n  config {\n    enabled = true\n  }\n}\n'
    )
    return str(conf)


def _ready(a: Agent) -> bool:
    try:
        nodes = a.call("GET", "/v1/nodes")
        return bool(a.call("GET", "/v1/status/leader")) and any(n.get("Status") == "ready" for n in nodes)
    except (OSError, AssertionError):
        return False


def _wait(check: Any, what: str, timeout: float = DEADLINE_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


# --- the shipped files ------------------------------------------------------------------------


def test_there_are_files_to_check():
    assert JOBSPECS, "jobspecs/ is empty: run scripts/render_examples.sh"


@pytest.mark.parametrize("path", JOBSPECS, ids=lambda p: p.name)
def test_api_validates_every_jobspec(agent, path):
    reply = agent.call("POST", "/v1/validate/job", json.loads(path.read_text()))
    assert not reply.get("ValidationErrors"), reply
    assert not reply.get("Error"), reply


@pytest.mark.skipif(NOMAD is None, reason="needs the `nomad` binary on PATH")
@pytest.mark.parametrize("path", JOBSPECS, ids=lambda p: p.name)
def test_cli_validates_json_and_parses_hcl_to_the_same_job(path, tmp_path):
    env = {**os.environ, "NOMAD_ADDR": os.environ.get("NOMAD_ADDR", "http://127.0.0.1:1")}
    res = subprocess.run(
        [NOMAD, "job", "validate", "-json", str(path)], capture_output=True, text=True, env=env, check=False
    )
    # without a reachable agent `job validate` checks locally (and says so), still exit 0
    assert res.returncode == 0, res.stdout + res.stderr
    hcl = path.with_name(path.name.removesuffix(".json") + ".nomad.hcl")
    res = subprocess.run(
        [NOMAD, "job", "run", "-output", str(hcl)], capture_output=True, text=True, env=env, check=False
    )
    assert res.returncode == 0, res.stderr
    parsed = json.loads(res.stdout)["Job"]
    ours = json.loads(path.read_text())["Job"]
    assert _subset(ours, parsed) == [], f"{hcl.name} parses to a different job than {path.name}"


def _subset(ours: Any, theirs: Any, where: str = "Job") -> list[str]:
    """Places where ``theirs`` (Nomad's parse) does not hold what ``ours`` says."""
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [where]
        lower = {k.lower(): v for k, v in theirs.items()}
        out: list[str] = []
        for k, v in ours.items():
            out += _subset(v, theirs.get(k, lower.get(k.lower())), f"{where}.{k}")
        return out
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(theirs) != len(ours):
            return [where]
        return [
            p
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
            for p in _subset(a, b, f"{where}[{i}]")
        ]
    return [] if ours == theirs else [f"{where}: {ours!r} != {theirs!r}"]


# --- a job actually runs ----------------------------------------------------------------------


def _plan():
    b = PlanBuilder("realtest1")
    b.task(
        "sleeper",
        mode=ControlMode.BASIC,
        value="/bin/sleep",
        args=("120",),
        wants=Resources(cpu=0.05, memory=32),
    )
    b.task("hook", mode=ControlMode.BASIC, value="/bin/true", trigger="before_CONFIGURE", timeout="20s")
    return b.build()


def _dispatch_and_wait(agent: Agent, job_id: str, status: str) -> str:
    child = agent.call("POST", f"/v1/job/{job_id}/dispatch", {"Meta": {"nomadctl.run_number": "1"}})[
        "DispatchedJobID"
    ]

    def reached() -> bool:
        allocs = agent.call("GET", f"/v1/job/{child}/allocations")
        states = {a["ClientStatus"] for a in allocs}
        assert "failed" not in states, allocs
        return bool(allocs) and states == {status}

    _wait(reached, f"{child} to be {status}")
    return child


def test_rendered_raw_exec_jobs_run(agent):
    jobs = render(_plan(), RenderOptions(nomad_version=agent.version()))
    registered: list[str] = []
    try:
        for job in jobs.jobs:
            reply = agent.call("POST", "/v1/jobs", json.loads(to_api_json(job)))
            assert reply["EvalID"] == "" or reply["EvalID"]  # parameterized jobs need no evaluation
            registered.append(job.id)
        (run,) = jobs.of_kind(JobKind.RUN)
        registered.append(_dispatch_and_wait(agent, run.id, "running"))
        (hook,) = jobs.of_kind(JobKind.HOOK)
        registered.append(_dispatch_and_wait(agent, hook.id, "complete"))
    finally:
        for job_id in reversed(registered):
            agent.call("DELETE", f"/v1/job/{job_id}?purge=true")
