"""Plan the readout-dataflow-like example (examples/workflows/flp-dataflow.yaml) at FLP scale.

For each host count the script plans the example with every FLP in `hosts` (readout, StfBuilder,
StfSender, the maintenance hooks of the included flp-host-hooks workflow and two CTP-emulator
hooks per host) and prints one row: tasks, wall time (best of --repeat runs), template
evaluations (renders that ran at least one expression), and peak traced memory of one run.
``first s`` is the first run in the process for that size (the first row also parses the YAML
and compiles every template).

    python benchmarks/plan_scale.py [--hosts 20 200] [--repeat 3]

Target on a 2-core machine: <= 1.0 s for 200 hosts, growing linearly with the host count.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nomadctl.manifest import plan_with_stats  # noqa: E402
from nomadctl.providers.file import FileKVProvider  # noqa: E402

EXAMPLES = ROOT / "examples"


def kv_for(hosts: list[str]) -> FileKVProvider:
    """The example providers plus an inventory and a readout payload for every host."""
    kv = FileKVProvider.from_file(EXAMPLES / "providers.yaml")
    for i, host in enumerate(hosts):
        detector = ("TST", "ITS", "TPC", "MFT")[i % 4]
        kv.put(f"o2/hardware/detectors/{detector}/flps/{host}/nic", "ib0")
        kv.put(f"o2/components/readout/ANY/any/readout-{host}", "[readout]\n")
    return kv


def plan_once(hosts: list[str], kv: FileKVProvider) -> tuple[float, int, int]:
    user_vars = {"hosts": json.dumps(hosts), "roc_ctp_emulator_enabled": "true"}
    gc.collect()
    start = time.perf_counter()
    plan, evaluations = plan_with_stats(EXAMPLES, "flp-dataflow", user_vars=user_vars, kv=kv, seed=1)
    elapsed = time.perf_counter() - start
    return elapsed, evaluations, len(plan.tasks)


def peak_memory(hosts: list[str], kv: FileKVProvider) -> int:
    user_vars = {"hosts": json.dumps(hosts), "roc_ctp_emulator_enabled": "true"}
    gc.collect()
    tracemalloc.start()
    plan_with_stats(EXAMPLES, "flp-dataflow", user_vars=user_vars, kv=kv, seed=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rows = []
    for count in args.hosts:
        hosts = [f"flp{i:03d}" for i in range(1, count + 1)]
        kv = kv_for(hosts)
        # the first run of a process also parses the YAML and compiles every template
        cold = plan_once(hosts, kv)[0]
        runs = [plan_once(hosts, kv) for _ in range(args.repeat)]
        best = min(runs)
        rows.append((count, best[2], cold, best[0], best[1], peak_memory(hosts, kv)))

    header = ("hosts", 6), ("tasks", 6), ("first s", 8), ("seconds", 8), ("evaluations", 12), ("peak MiB", 9)
    print(" ".join(f"{name:>{width}}" for name, width in header), f"{'µs/eval':>8}")
    for count, tasks, cold, seconds, evaluations, peak in rows:
        print(
            f"{count:>6} {tasks:>6} {cold:>8.3f} {seconds:>8.3f} {evaluations:>12} {peak / 2**20:>9.1f} "
            f"{seconds / evaluations * 1e6:>8.2f}"
        )
    if len(rows) >= 2:
        (n0, _, _, s0, _, _), (n1, _, _, s1, _, _) = rows[0], rows[-1]
        print(f"growth: x{s1 / s0:.1f} time for x{n1 / n0:.1f} hosts")


if __name__ == "__main__":
    main()
