"""The simulated farm in its own process for the benchmarks (``nomadctl sim serve``), so its
memory and CPU are measured apart from the code under test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def serve(*args: str, startup: float = 60.0) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start ``nomadctl sim serve ARGS``; return the process and the addresses it exports
    (``NOMAD_ADDR``, ``CONSUL_HTTP_ADDR``). Exits the benchmark if they are not printed within
    ``startup`` seconds."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nomadctl", "sim", "serve", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    addrs: dict[str, str] = {}
    deadline = time.monotonic() + startup
    while len(addrs) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("export "):
            key, _, value = line.strip()[len("export ") :].partition("=")
            addrs[key] = value
    if len(addrs) < 2:
        proc.kill()
        raise SystemExit("the farm did not start")
    return proc, addrs
