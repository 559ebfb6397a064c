"""Benchmark the environment lifecycle by host count and print a table of step durations.

For each size, a simulated farm runs in this process with that many FLP nodes; the controller
walks the ``flp-dataflow`` example (3 long-running tasks and 4 hooks per host, one job per host)
through create, DEPLOY, CONFIGURE, START_ACTIVITY, show, STOP_ACTIVITY, RESET and teardown,
exactly as ``nomadctl demo`` does (``nomadctl.controller.demo.run_demo``), and the duration of
each ``Controller`` call is recorded. The farm starts a task 0.05 s after placement, as in the
demo; everything else is our own work plus the farm's HTTP.

    python benchmarks/lifecycle_scale.py                 # 2, 20 and 200 hosts
    python benchmarks/lifecycle_scale.py --hosts 200 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nomadctl.clients.config import ConsulConfig, NomadConfig  # noqa: E402
from nomadctl.clients.consul import ConsulClient  # noqa: E402
from nomadctl.clients.nomad import NomadClient  # noqa: E402
from nomadctl.controller.demo import demo_inputs, run_demo  # noqa: E402
from nomadctl.controller.service import Controller  # noqa: E402
from nomadctl.controller.settings import Settings  # noqa: E402
from nomadctl.sim import NodeSpec, SimFarm  # noqa: E402

STEPS = ("create", "DEPLOY", "CONFIGURE", "START_ACTIVITY", "show", "STOP_ACTIVITY", "RESET", "teardown")


def run(hosts: int) -> dict[str, float]:
    names = [f"flp{i:03d}" for i in range(1, hosts + 1)]
    with SimFarm([NodeSpec(name=h, node_class="flp") for h in names], start_latency=0.05) as farm:
        nomad = NomadClient(NomadConfig(address=farm.nomad_addr))
        consul = ConsulClient(ConsulConfig(address=farm.consul_addr))
        with Controller(nomad, consul, Settings(lock_delay=0, deploy_timeout=300)) as controller:
            result = run_demo(controller, demo_inputs(str(ROOT / "examples"), hosts=names), lambda line: None)
        nomad.close()
        consul.close()
    failed = [s for s in result.steps if not s.ok]
    if failed:
        raise SystemExit(f"{hosts} hosts: {failed[0].name} failed: {failed[0].detail}")
    if not result.ok:
        raise SystemExit(f"{hosts} hosts: left behind: {', '.join(result.leftovers)}")
    return {s.name: s.seconds for s in result.steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", default="2,20,200", help="comma-separated host counts")
    ap.add_argument("--repeat", type=int, default=1, help="runs per size; the median is printed")
    args = ap.parse_args()
    sizes = [int(x) for x in args.hosts.split(",")]
    print("| hosts | " + " | ".join(STEPS) + " | total |")
    print("|---:|" + "---:|" * (len(STEPS) + 1))
    for hosts in sizes:
        runs = [run(hosts) for _ in range(max(1, args.repeat))]
        med = {step: statistics.median(r[step] for r in runs) for step in STEPS}
        total = statistics.median(sum(r[step] for step in STEPS) for r in runs)
        cells = " | ".join(f"{med[s]:.2f} s" for s in STEPS)
        print(f"| {hosts} | {cells} | {total:.2f} s |", flush=True)


if __name__ == "__main__":
    main()
