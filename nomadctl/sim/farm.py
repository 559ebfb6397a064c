"""``SimFarm``: the simulated farm as a context manager with a Nomad and a Consul address."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from nomadctl.sim.clock import Clock, ManualClock, RealClock
from nomadctl.sim.consul_api import ConsulAPI
from nomadctl.sim.engine import Engine
from nomadctl.sim.errors import SimError
from nomadctl.sim.faults import Faults
from nomadctl.sim.http import SimHTTPServer
from nomadctl.sim.nodes import Node, NodeSpec
from nomadctl.sim.nomad_api import NO_LEADER, NomadAPI


class SimFarm:
    """An in-process Nomad + Consul farm on 127.0.0.1 (two ephemeral ports, like two agents).

    ``start_latency``: seconds from placement to tasks running. ``heartbeat_grace``: seconds a
    node may miss heartbeats (after ``faults.node_down``) before it is marked down and its
    allocations lost. ``heartbeat_interval``: period of the event stream's ``{}`` heartbeats.
    ``seed`` makes IDs, node shuffles and ports reproducible. ``clock``: pass a ``ManualClock`` to
    drive time with ``advance()`` in tests. ``event_buffer_size``: Nomad's ``event_buffer_size``.
    """

    def __init__(
        self,
        nodes: Sequence[NodeSpec] = (),
        *,
        start_latency: float = 0.05,
        heartbeat_grace: float = 0.5,
        heartbeat_interval: float = 30.0,
        seed: int | None = None,
        clock: Clock | None = None,
        event_buffer_size: int = 100,
        datacenter: str = "dc1",
    ) -> None:
        self.clock = clock or RealClock()
        self.engine = Engine(
            clock=self.clock,
            seed=seed,
            start_latency=start_latency,
            heartbeat_grace=heartbeat_grace,
            event_buffer_size=event_buffer_size,
            datacenter=datacenter,
        )
        self._heartbeat_interval = heartbeat_interval
        self._stopping = threading.Event()
        self._nomad: SimHTTPServer | None = None
        self._consul: SimHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        for spec in nodes:
            self.engine.add_node(spec)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> SimFarm:
        """Start the engine and both HTTP servers (idempotent)."""
        if self._nomad is not None:
            return self
        self._stopping.clear()
        self.engine.start()
        nomad = NomadAPI(self.engine, self._heartbeat_interval)
        consul = ConsulAPI(self.engine.consul)
        self._nomad = SimHTTPServer("nomad", nomad.router(), self.engine.faults, self._stopping, NO_LEADER)
        self._consul = SimHTTPServer(
            "consul",
            consul.router(),
            self.engine.faults,
            self._stopping,
            "rpc error making call: No cluster leader",
        )
        for srv in (self._nomad, self._consul):
            t = threading.Thread(
                target=srv.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"nomadctl-sim-{srv.name}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        """Stop serving: end blocking queries and streams, close connections, stop the engine."""
        self._stopping.set()
        self.engine.stop()
        for srv in (self._nomad, self._consul):
            if srv is not None:
                srv.shutdown()
                srv.close_connections()
                srv.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()
        self._nomad = self._consul = None

    def __enter__(self) -> SimFarm:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses and handles ----------------------------------------------------------------------

    @property
    def nomad_addr(self) -> str:
        """``http://127.0.0.1:<port>`` of the Nomad API (what ``NOMAD_ADDR`` should be)."""
        if self._nomad is None:
            raise SimError("the farm is not started")
        return self._nomad.url

    @property
    def consul_addr(self) -> str:
        """``http://127.0.0.1:<port>`` of the Consul API (what ``CONSUL_HTTP_ADDR`` should be)."""
        if self._consul is None:
            raise SimError("the farm is not started")
        return self._consul.url

    @property
    def faults(self) -> Faults:
        return self.engine.faults

    def add_node(self, spec: NodeSpec) -> Node:
        """Register one more client node (it is ready at once)."""
        return self.engine.add_node(spec)

    def node_id(self, name: str) -> str:
        """The Nomad node ID of the node called ``name``."""
        return self.engine.node_by_name(name).id

    def find_alloc(self, job: str, group: str, index: int, *, namespace: str = "default") -> str:
        """The ID of the live allocation ``<job>.<group>[<index>]``."""
        return self.engine.find_alloc(job, group, index, namespace=namespace)

    def advance(self, seconds: float) -> None:
        """With a ``ManualClock``: move time on, running what falls due (instantly, no sleeping)."""
        if not isinstance(self.clock, ManualClock):
            raise SimError("advance() needs SimFarm(clock=ManualClock())")
        self.engine.advance(seconds)

    def stats(self) -> dict[str, Any]:
        """Counts of nodes, jobs, allocations and task states (what the benchmark reports)."""
        return self.engine.stats()
