"""Benchmark the controller daemon's NMIN decision latency at ALICE size and print a table.

The farm runs in its own process (``nomadctl sim serve``, real clock, heartbeat grace
``--grace``); the environment is a generated workflow with one replicated EPN-style group of
``--epns`` replicas x ``--tasks`` tasks (nmin = n - ``--max-fail``) on as many GPU nodes, created
and DEPLOYed by the controller. Then the daemon (``nomadctl.controller.daemon.Daemon``, in this
process, with a listener on its decisions) is started and, for each trial, one more replica's
node is stopped (``/sim/v1/node/<name>/down``); the last trial crosses nmin (GO_ERROR).

Per trial:

* **from Nomad's report**: from the changed allocation's ``ModifyTime`` (when the farm, as Nomad,
  recorded the node's allocations as unknown/lost) to the decision being recorded in Consul
  (same machine, same wall clock);
* **in the daemon**: from the event frame's arrival to the recorded decision (parse, judge every
  group, CAS write) — the daemon's own share;
* **from the injection**: from the fault to the decision; includes the heartbeat grace, which is
  Nomad's (10-30 s on a real cluster, ``--grace`` here), not the daemon's.

Also: the daemon's start (election, discovery, the first full list with task states read in
batches), the DEPLOY time, and the daemon process's peak RSS.

    python benchmarks/nmin_latency.py                    # ALICE: 350 replicas x 430 tasks
    python benchmarks/nmin_latency.py --epns 35 --tasks 43 --trials 3
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from _farm import serve  # noqa: E402

from nomadctl.clients.config import ConsulConfig, NomadConfig  # noqa: E402
from nomadctl.clients.consul import ConsulClient  # noqa: E402
from nomadctl.clients.nomad import NomadClient  # noqa: E402
from nomadctl.controller.daemon import Daemon, DaemonSettings  # noqa: E402
from nomadctl.controller.enforce import Decided  # noqa: E402
from nomadctl.controller.health_record import HealthStore  # noqa: E402
from nomadctl.controller.service import Controller  # noqa: E402
from nomadctl.controller.settings import Settings  # noqa: E402

WORKFLOW = """\
name: nmin-bench
description: "one replicated EPN-style group for the NMIN latency benchmark"
defaults:
  n: "350"
  m: "35"
  ntasks: "430"
roles:
  - name: reco
    defaults:
      nomad_replicas: "{{ n }}"
      nomad_max_fail: "{{ m }}"
      nomad_node_pool: epn
    roles:
      - name: dpl-{{ it }}
        for:
          begin: "1"
          end: "{{ ntasks }}"
          var: it
        task:
          load: bench-proc
"""

TASK = """\
name: bench-proc
control:
  mode: direct
defaults:
  user: epn
wants:
  cpu: 0.01
  memory: 16
command:
  shell: true
  user: "{{ user }}"
  env:
    - O2_PARTITION={{ environment_id }}
  value: /opt/o2/bin/o2-dpl-device
  arguments:
    - "--id={{ it }}"
"""


def write_repo(root: Path) -> Path:
    (root / "workflows").mkdir(parents=True)
    (root / "tasks").mkdir()
    (root / "workflows" / "nmin-bench.yaml").write_text(WORKFLOW)
    (root / "tasks" / "bench-proc.yaml").write_text(TASK)
    (root / "providers.yaml").write_text("o2:\n  runtime:\n    aliecs:\n      defaults: {}\n      vars: {}\n")
    return root


def start_farm(epns: int, grace: float) -> tuple[subprocess.Popen[str], str, str]:
    proc, addrs = serve(
        "--nodes", f"epn:{epns}:gpus=1:pool=epn:cpu=64000:memory=262144", "--seed", "1",
        "--start-latency", "0.05", "--heartbeat-grace", str(grace), "--for", "1800",
    )  # fmt: skip
    return proc, addrs["NOMAD_ADDR"], addrs["CONSUL_HTTP_ADDR"]


class Decisions:
    def __init__(self) -> None:
        self.items: list[Decided] = []
        self.cond = threading.Condition()

    def __call__(self, d: Decided) -> None:
        with self.cond:
            self.items.append(d)
            self.cond.notify_all()

    def wait(self, check, timeout: float) -> Decided:  # type: ignore[no-untyped-def]
        with self.cond:
            found: list[Decided] = []

            def ready() -> bool:
                found[:] = [d for d in self.items if check(d)]
                return bool(found)

            if not self.cond.wait_for(ready, timeout):
                raise SystemExit(f"no decision within {timeout} s")
            return found[0]


def reco(d: Decided) -> tuple[str, int]:
    g = next(g for g in d.decision.groups if g.name == "reco")
    return str(g.state), g.healthy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epns", type=int, default=350, help="replicas (and GPU nodes)")
    ap.add_argument("--tasks", type=int, default=430, help="tasks per replica")
    ap.add_argument("--max-fail", type=int, default=3, help="m: replicas allowed to fail (nmin = n - m)")
    ap.add_argument(
        "--trials", type=int, default=4, help="nodes stopped one after the other (>= m + 1 for GO_ERROR)"
    )
    ap.add_argument("--grace", type=float, default=1.0, help="the farm's heartbeat grace, seconds")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    trials = max(args.trials, 1)
    proc, nomad_addr, consul_addr = start_farm(args.epns, args.grace)
    tmp = tempfile.TemporaryDirectory()
    repo = write_repo(Path(tmp.name))
    try:
        nomad = NomadClient(NomadConfig(address=nomad_addr), timeout=300)
        consul = ConsulClient(ConsulConfig(address=consul_addr))
        settings = Settings(
            nomad_version="2.0.5", deploy_timeout=900, lock_wait=60, max_wait=10, controller_id="bench"
        )
        controller = Controller(nomad, consul, settings)
        # create and DEPLOY with the CLI in its own process, so this process's peak RSS is the
        # daemon's (DEPLOY reads the environment's allocations with their task states)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "NOMAD_ADDR": nomad_addr,
            "CONSUL_HTTP_ADDR": consul_addr,
        }
        t0 = time.perf_counter()
        created = subprocess.run(
            [
                sys.executable, "-m", "nomadctl", "env", "--deploy-timeout", "900", "create", "nmin-bench",
                "--repo", str(repo), "--providers", str(repo / "providers.yaml"), "--nomad-version", "2.0.5",
                "--var", f"n={args.epns}", "--var", f"m={args.max_fail}", "--var", f"ntasks={args.tasks}",
                "--json", "-q",
            ],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        env_id = json.loads(created.stdout)["env_id"]
        t_create = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "nomadctl", "env", "--deploy-timeout", "900", "deploy", env_id, "-q"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        t_deploy = time.perf_counter() - t0
        decisions = Decisions()
        daemon = Daemon(
            Controller(nomad, consul, settings),
            DaemonSettings(leader_ttl=15, leader_lock_delay=0),
            listeners=[decisions],
        )
        t0 = time.perf_counter()
        daemon.start()
        decisions.wait(lambda d: d.env_id == env_id, 600)
        t_start = time.perf_counter() - t0
        watcher = daemon.watchers()[env_id]
        first_list = (watcher.list_seconds, watcher.list_requests)
        rows: list[tuple[int, str, float, float, float]] = []
        # the replicas' nodes, from the daemon's own mirror (a full allocation list here would
        # parse 150k task states and dominate this process's memory)
        nodes = sorted({a.view.node_name for a in watcher.allocs.values() if a.view.group == "reco"})
        with httpx.Client(base_url=nomad_addr, timeout=60) as admin:
            for k in range(1, trials + 1):
                seen = len(decisions.items)
                injected = time.monotonic()
                admin.post(f"/sim/v1/node/{nodes[k - 1]}/down").raise_for_status()
                d = decisions.wait(
                    lambda d, seen=seen, k=k: (
                        decisions.items.index(d) >= seen and reco(d)[1] <= args.epns - k
                    ),
                    120 + args.grace,
                )
                state, healthy = reco(d)
                from_report = (d.decided_ns - d.reported_ns) / 1e9 if d.reported_ns else float("nan")
                rows.append(
                    (
                        k,
                        f"{state} {healthy}/{args.epns}" + (" GO_ERROR" if d.go_error else ""),
                        from_report,
                        d.decided - d.received,
                        d.decided - injected,
                    )
                )
        t_go = float("nan")
        last = decisions.items[-1]
        if last.go_error is not None:
            store = HealthStore(consul, controller.keys)
            key, index = controller.keys.health(env_id), 0
            while (g := store.get(env_id).go_error) is None or g.pending:
                _, index = consul.kv_get(key, index=index, wait=10)
            t_go = (g.finished_ns - g.decided_ns) / 1e9
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        daemon.stop()
        print(
            f"environment: 1 replicated group, {args.epns} replicas x {args.tasks} tasks "
            f"({args.epns * args.tasks} task states), nmin {args.epns - args.max_fail}; "
            f"farm heartbeat grace {args.grace:g} s"
        )
        print(
            f"create {t_create:.2f} s, DEPLOY {t_deploy:.2f} s, "
            f"daemon start to first decision {t_start:.2f} s "
            f"(its first list {first_list[0]:.2f} s, {first_list[1]} requests), "
            f"daemon process peak RSS {peak_mb:.0f} MB"
        )
        print()
        print(
            "| node lost | decision | from Nomad's report (s) | in the daemon (s) | from the injection (s) |"
        )
        print("|---:|---|---:|---:|---:|")
        for k, what, rep, own, inj in rows:
            print(f"| {k} | {what} | {rep:.3f} | {own:.3f} | {inj:.3f} |")
        reps = [r[2] for r in rows if not math.isnan(r[2])]
        if not math.isnan(t_go):
            print(f"GO_ERROR carried out (environment in ERROR) {t_go:.2f} s after the decision")
        if reps:
            print(
                f"\nfrom Nomad's report: median {statistics.median(reps):.3f} s, "
                f"max {max(reps):.3f} s (target <= 1 s)"
            )
        controller.destroy(env_id, force=True)
        controller.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        tmp.cleanup()


if __name__ == "__main__":
    main()
