"""Benchmark the simulated farm at ALICE size over raw HTTP and print a results table.

The farm runs in its own process (``nomadctl sim serve``) so its memory is measured alone
(``VmRSS``/``VmHWM`` from ``/proc``). For each size it registers one environment job: a replicated
EPN group (``count`` allocations of ``tasks`` tasks, ``distinct_hosts``, one GPU each, pool ``epn``)
plus one host group per FLP node (pinned with a hostname constraint), then measures

* register: ``POST /v1/jobs`` latency;
* all running: from the POST until the job summary shows every allocation running (watched
  with blocking queries, as a client would);
* list light: ``GET /v1/allocations?task_states=false`` (what a watcher should poll);
* list full: ``GET /v1/job/:id/allocations`` (all task states, as real Nomad sends them);
* RSS after all running and the peak RSS of the farm process.

    python benchmarks/farm_scale.py                      # ALICE size: 200 FLP + 350 EPN x 430 tasks
    python benchmarks/farm_scale.py --sizes 0.1,1 --flp-tasks 10
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from _farm import serve

ROOT = Path(__file__).resolve().parent.parent


def _job(job_id: str, flp: int, epn: int, epn_tasks: int, flp_tasks: int) -> dict[str, Any]:
    def task(name: str, cpu: int, mem: int, gpus: int = 0) -> dict[str, Any]:
        res: dict[str, Any] = {"CPU": cpu, "MemoryMB": mem}
        if gpus:
            res["Devices"] = [{"Name": "nvidia/gpu", "Count": gpus}]
        return {
            "Name": name,
            "Driver": "raw_exec",
            "Config": {"command": "/opt/o2/bin/o2-processor", "args": ["--id", name, "--session", "default"]},
            "Env": {"O2_ROLE": name, "O2_PARTITION": job_id},
            "Resources": res,
        }

    groups: list[dict[str, Any]] = [
        {
            "Name": "epn",
            "Count": epn,
            "Constraints": [{"Operand": "distinct_hosts", "RTarget": "true"}],
            "Meta": {"nomadctl.nmin": str(max(1, epn - epn // 10))},
            "Networks": [{"DynamicPorts": [{"Label": "ctl"}]}],
            "Services": [{"Name": f"{job_id}-epn", "PortLabel": "ctl", "Tags": ["aliecs"]}],
            "Tasks": [task(f"dpl-{i:03d}", 30, 100, 1 if i == 0 else 0) for i in range(epn_tasks)],
        }
    ]
    for n in range(1, flp + 1):
        host = f"flp{n:03d}"
        groups.append(
            {
                "Name": host,
                "Count": 1,
                "Constraints": [{"LTarget": "${attr.unique.hostname}", "Operand": "=", "RTarget": host}],
                "Networks": [{"DynamicPorts": [{"Label": "ctl"}]}],
                "Services": [{"Name": f"{job_id}-{host}", "PortLabel": "ctl", "Tags": ["aliecs"]}],
                "Tasks": [task(f"readout-{i}", 100, 256) for i in range(flp_tasks)],
            }
        )
    return {
        "Job": {
            "ID": job_id,
            "Type": "service",
            "Datacenters": ["dc1"],
            "NodePool": "all",
            "Update": {"MaxParallel": 0},
            "TaskGroups": groups,
        }
    }


def _proc_mem(pid: int) -> tuple[float, float]:
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def _start_farm(flp: int, epn: int) -> tuple[subprocess.Popen[str], str]:
    proc, addrs = serve(
        "--nodes", f"flp:{flp}", "--nodes", f"epn:{epn}:gpus=8:pool=epn", "--seed", "1", "--for", "900"
    )  # fmt: skip
    return proc, addrs["NOMAD_ADDR"]


def run(scale: float, flp_tasks: int, epn_tasks: int) -> dict[str, Any]:
    flp = max(1, round(200 * scale))
    epn = max(1, round(350 * scale))
    proc, addr = _start_farm(flp, epn)
    try:
        with httpx.Client(base_url=addr, timeout=120) as c:
            idle_rss, _ = _proc_mem(proc.pid)
            job = _job("bench", flp, epn, epn_tasks, flp_tasks)
            expected = epn + flp
            t0 = time.perf_counter()
            r = c.post("/v1/jobs", json=job)
            r.raise_for_status()
            t_register = time.perf_counter() - t0
            index = 0
            while True:
                s = c.get("/v1/job/bench/summary", params={"index": index, "wait": "30s"})
                s.raise_for_status()
                index = int(s.headers["X-Nomad-Index"])
                running = sum(g["Running"] for g in s.json()["Summary"].values())
                if running >= expected:
                    break
                if time.perf_counter() - t0 > 600:
                    raise SystemExit(f"only {running}/{expected} allocations running after 600 s")
            t_running = time.perf_counter() - t0
            rss, _ = _proc_mem(proc.pid)
            t1 = time.perf_counter()
            light = c.get("/v1/allocations", params={"task_states": "false"})
            t_light = time.perf_counter() - t1
            t2 = time.perf_counter()
            full = c.get("/v1/job/bench/allocations")
            t_full = time.perf_counter() - t2
            stats = c.get("/sim/v1/status").json()
            _, peak = _proc_mem(proc.pid)
            return {
                "nodes": flp + epn,
                "groups": len(job["Job"]["TaskGroups"]),
                "allocs": stats["Allocs"],
                "task_states": stats["TaskStates"],
                "register_s": t_register,
                "running_s": t_running,
                "light_s": t_light,
                "light_mb": len(light.content) / 2**20,
                "full_s": t_full,
                "full_mb": len(full.content) / 2**20,
                "idle_mb": idle_rss,
                "rss_mb": rss,
                "peak_mb": peak,
            }
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--sizes", default="1", help="comma-separated scales of ALICE (1 = 200 FLP + 350 EPN nodes)"
    )
    ap.add_argument("--epn-tasks", type=int, default=430, help="tasks per EPN allocation")
    ap.add_argument("--flp-tasks", type=int, default=10, help="tasks per FLP host group")
    args = ap.parse_args()
    rows = [run(float(s), args.flp_tasks, args.epn_tasks) for s in args.sizes.split(",")]
    head = (
        "| nodes | groups | allocs | task states | register (s) | all running (s) "
        "| allocs list, no task states (s / MB) | job allocs, full (s / MB) "
        "| RSS idle / running / peak (MB) |"
    )
    print(head)
    print("|" + "---|" * 9)
    for r in rows:
        print(
            f"| {r['nodes']} | {r['groups']} | {r['allocs']} | {r['task_states']} | {r['register_s']:.2f} "
            f"| {r['running_s']:.2f} | {r['light_s']:.2f} / {r['light_mb']:.2f} "
            f"| {r['full_s']:.2f} / {r['full_mb']:.0f} "
            f"| {r['idle_mb']:.0f} / {r['rss_mb']:.0f} / {r['peak_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
