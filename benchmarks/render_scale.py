"""Render scale: an ALICE-sized environment to Nomad job files, and the job shape per split.

    python benchmarks/render_scale.py [--controlworkflows DIR] [--hosts 200] [--repeat 5]

1. End to end (``python -m nomadctl render ... --format json``, a fresh process: interpreter
   start, imports, manifest evaluation, mapping, validation, files written) for the production
   ``readout-dataflow`` of AliceO2Group/ControlWorkflows with N FLP hosts (target: <= 1.5 s for
   200 hosts), and for our ``flp-dataflow`` example with the same hosts. The ControlWorkflows
   checkout comes from ``--controlworkflows`` or ``$NOMADCTL_CONTROLWORKFLOWS``; without one that
   row is skipped (the file is GPL and not part of this repository). Its KV inputs (Apricot
   defaults, inventory) are generated here.
2. In-process breakdown of the same render.
3. Job shape per ``--split`` (reference Appendix C: every allocation carries a copy of its whole
   job): jobs, groups, largest job, and the job bytes that all allocations carry together — what
   one dev agent holds when every allocation lands on it, and what a job update ships to clients.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nomadctl.jobspec import RenderOptions, Split, build_jobs, files, to_api_json, validate  # noqa: E402
from nomadctl.manifest import build_plan, load_var_files  # noqa: E402
from nomadctl.plan import EnvironmentPlan  # noqa: E402
from nomadctl.providers.file import FileKVProvider  # noqa: E402

ENV_ID = "2oDvzkBmdBA"


def hosts(n: int) -> list[str]:
    return [f"alio2-cr1-flp{i:03d}" for i in range(1, n + 1)]


def production_inputs(n: int, tmp: Path) -> tuple[Path, Path]:
    """Var file and KV file for readout-dataflow: N hosts, Apricot-injected defaults, inventory."""
    names = hosts(n)
    var_file = tmp / "prod-vars.json.yaml"
    var_file.write_text(json.dumps({"hosts": json.dumps(names)}))
    kv = {
        "o2": {
            "runtime": {
                "aliecs": {
                    "defaults": {
                        "consul_base_uri": "consul://ali-consul.cern.ch:8500",
                        "consul_endpoint": "ali-consul.cern.ch:8500",
                        "consul_hostname": "ali-consul.cern.ch",
                        "consul_port": "8500",
                        "framework_id": "nomad",
                        "core_hostname": "alio2-cr1-hv-aliecs",
                        "modulepath": "",
                        "infologger_mode": "infoLoggerD",
                    },
                    "vars": {},
                }
            },
            "hardware": {
                "flps": {
                    h: {"cards": '[{"serial":"1041","endpoint":"0"},{"serial":"1041","endpoint":"1"}]'}
                    for h in names
                },
                "detectors": {"TPC": {"flps": {h: {"nic": "ib0"} for h in names}}},
            },
        }
    }
    kv_file = tmp / "prod-kv.json"
    kv_file.write_text(json.dumps(kv))
    return var_file, kv_file


def example_inputs(n: int, tmp: Path) -> tuple[Path, Path]:
    """flp-dev vars with N hosts; the example KV plus an inventory entry and payload per host."""
    names = hosts(n)
    var_file = tmp / "example-vars.yaml"
    user_vars = load_var_files([ROOT / "examples" / "vars" / "flp-dev.yaml"])
    user_vars["hosts"] = json.dumps(names)
    var_file.write_text(json.dumps(user_vars))
    kv = yaml.load((ROOT / "examples" / "providers.yaml").read_text(), Loader=yaml.BaseLoader)
    detectors = kv["o2"]["hardware"].setdefault("detectors", {})
    readout = kv["o2"].setdefault("components", {}).setdefault("readout", {}).setdefault("ANY", {})
    for i, host in enumerate(names):
        det = ("TST", "ITS", "TPC", "MFT")[i % 4]
        detectors.setdefault(det, {}).setdefault("flps", {})[host] = {"nic": "ib0"}
        readout.setdefault("any", {})[f"readout-{host}"] = "[readout]\n"
    kv_file = tmp / "example-kv.json"
    kv_file.write_text(json.dumps(kv))
    return var_file, kv_file


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def end_to_end(repo: Path, workflow: str, var_file: Path, kv_file: Path, repeat: int) -> tuple[float, int]:
    def once() -> int:
        with tempfile.TemporaryDirectory() as out:
            res = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "nomadctl",
                    "render",
                    workflow,
                    "--repo",
                    str(repo),
                    "--var-file",
                    str(var_file),
                    "--providers",
                    str(kv_file),
                    "--env-id",
                    ENV_ID,
                    "--seed",
                    "1",
                    "--format",
                    "json",
                    "--out",
                    out,
                ],
                check=False,
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            if res.returncode != 0:
                raise SystemExit(f"nomadctl render {workflow} failed:\n{res.stderr}")
            return len(os.listdir(out))

    return timed(once, repeat)  # type: ignore[return-value]


def plan_of(repo: Path, workflow: str, var_file: Path, kv_file: Path) -> EnvironmentPlan:
    return build_plan(
        repo,
        workflow,
        user_vars=load_var_files([var_file]),
        kv=FileKVProvider.from_file(kv_file),
        env_id=ENV_ID,
        seed=1,
    )


def breakdown(repo: Path, workflow: str, var_file: Path, kv_file: Path, repeat: int) -> dict[str, float]:
    t_plan, plan = timed(lambda: plan_of(repo, workflow, var_file, kv_file), repeat)
    assert isinstance(plan, EnvironmentPlan)
    opts = RenderOptions()
    t_map, jobs = timed(lambda: build_jobs(plan, opts), repeat)
    t_val, _ = timed(lambda: validate(jobs.jobs), repeat)  # type: ignore[attr-defined]
    t_json, _ = timed(lambda: [to_api_json(j) for j in jobs.jobs], repeat)  # type: ignore[attr-defined]
    t_hcl, _ = timed(lambda: files(jobs, "hcl"), repeat)  # type: ignore[arg-type]
    return {
        "tasks": float(len(plan.tasks)),
        "build_plan": t_plan,
        "map": t_map,
        "validate": t_val,
        "API-JSON": t_json,
        "HCL": t_hcl,
    }


def shape(plan: EnvironmentPlan) -> list[tuple[str, int, int, int, int, int]]:
    rows = []
    for split in Split:
        jobs = build_jobs(plan, RenderOptions(split=split))
        service = [j for j in jobs.jobs if j.type == "service"]
        sizes = {j.id: len(to_api_json(j).encode()) for j in service}
        allocs = {j.id: sum(g.count for g in j.task_groups) for j in service}
        carried = sum(sizes[j] * allocs[j] for j in sizes)
        rows.append(
            (
                split.value,
                len(service),
                sum(len(j.task_groups) for j in service),
                max(sizes.values()),
                carried,
                max(sizes.values()),  # on a farm each node holds its own allocation's job
            )
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--controlworkflows", default=os.environ.get("NOMADCTL_CONTROLWORKFLOWS"))
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        cases: list[tuple[str, Path, str, Path, Path]] = []
        if args.controlworkflows:
            cw = Path(args.controlworkflows)
            cases.append(
                (
                    "readout-dataflow (ControlWorkflows)",
                    cw,
                    "readout-dataflow",
                    *production_inputs(args.hosts, tmp),
                )
            )
        else:
            print(
                "no ControlWorkflows checkout (--controlworkflows / $NOMADCTL_CONTROLWORKFLOWS): "
                "production row skipped\n"
            )
        cases.append(
            ("flp-dataflow (examples/)", ROOT / "examples", "flp-dataflow", *example_inputs(args.hosts, tmp))
        )

        print(
            f"## End to end: `nomadctl render --format json`, {args.hosts} hosts, median of {args.repeat}\n"
        )
        print("| workflow | files | seconds | target |")
        print("|---|---:|---:|---|")
        for name, repo, wf, var_file, kv_file in cases:
            seconds, count = end_to_end(repo, wf, var_file, kv_file, args.repeat)
            verdict = "ok (<= 1.5 s)" if seconds <= 1.5 else "MISSED (> 1.5 s)"
            print(f"| {name} | {count} | {seconds:.3f} | {verdict} |")

        print(f"\n## In-process breakdown (seconds, median of {args.repeat})\n")
        print("| workflow | tasks | build_plan | map | validate | API-JSON | HCL |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, repo, wf, var_file, kv_file in cases:
            b = breakdown(repo, wf, var_file, kv_file, args.repeat)
            print(
                f"| {name} | {int(b['tasks'])} | {b['build_plan']:.3f} | {b['map']:.3f} "
                f"| {b['validate']:.3f} | {b['API-JSON']:.3f} | {b['HCL']:.3f} |"
            )

        name, repo, wf, var_file, kv_file = cases[0]
        plan = plan_of(repo, wf, var_file, kv_file)
        print(f"\n## Job shape of the long-running tasks by --split ({name}, {args.hosts} hosts)\n")
        print(
            "| split | jobs | groups | largest job (KB) "
            "| job bytes carried by all allocations (MB) | per farm node (KB) |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for split, n_jobs, n_groups, largest, carried, per_node in shape(plan):
            print(
                f"| {split} | {n_jobs} | {n_groups} | {largest / 1024:.1f} "
                f"| {carried / 1e6:.1f} | {per_node / 1024:.1f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
