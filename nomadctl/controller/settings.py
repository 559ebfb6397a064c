"""Controller settings (data, frozen) and the injectable clock.

Every wait of the controller is a deadline on ``Clock.monotonic()``; events are stamped with
``Clock.now_ns()``. Tests pass their own clock; nothing in the controller calls ``time`` directly.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from nomadctl.errors import UsageError


class Clock(Protocol):
    """Wall time for events, monotonic seconds for deadlines."""

    def now_ns(self) -> int: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The machine's clock."""

    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()

#: Plugins implemented in nomadctl (``plugins/``); ``noop`` and ``http`` are mapped per name.
BUILTIN_PLUGINS = ("testplugin", "odc")


@dataclass(frozen=True, slots=True)
class PluginSpec:
    """How calls of one AliECS plugin name are run: a built-in, ``noop`` or ``http:<url>``."""

    kind: str  # "testplugin" | "odc" | "noop" | "http"
    url: str = ""

    @classmethod
    def parse(cls, name: str, text: str) -> PluginSpec:
        """``noop``, ``http:https://host/path``, or a built-in plugin name."""
        text = text.strip()
        if text == "noop" or text in BUILTIN_PLUGINS:
            return cls(text)
        if text.startswith("http:") and text[5:].startswith(("http://", "https://")):
            return cls("http", text[5:])
        raise UsageError(
            f"plugin {name}={text!r}: expected noop, http:<https://url> "
            f"or one of {', '.join(BUILTIN_PLUGINS)}"
        )

    def __str__(self) -> str:
        return f"http:{self.url}" if self.kind == "http" else self.kind


def parse_plugin_options(options: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``NAME=SPEC`` command-line items into a name -> spec text map (validated)."""
    out: dict[str, str] = {}
    for item in options:
        name, sep, spec = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--plugin {item!r}: expected NAME=SPEC (e.g. dcs=noop)")
        out[name.strip()] = str(PluginSpec.parse(name.strip(), spec))
    return out


def _default_controller_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Settings:
    """What a deployment of the controller may tune. Defaults suit a production cluster.

    * ``kv_prefix``: root of the controller's Consul KV layout (``<prefix>/envs/<id>``, ...);
    * ``deploy_timeout``: DEPLOY waits this long for critical groups (and NMIN) to be healthy;
    * ``start_timeout``: START_ACTIVITY waits this long for the run-scoped tasks to start;
    * ``release_timeout``: teardown and STOP wait this long for allocations to stop;
    * ``lock_ttl``/``lock_delay``: the per-environment Consul session (renewed every ttl/3);
    * ``lock_wait``: how long a transition waits for another one to finish before it is refused;
    * ``max_wait``: the longest single blocking query (each is also bounded by its deadline);
    * ``call_workers``: size of the thread pool running integration calls;
    * ``plugins``: AliECS plugin name -> ``noop`` | ``http:<url>`` | built-in, added to the
      defaults ``testplugin`` and ``odc``; ``http_ca`` a CA bundle for ``http`` plugins;
    * ``nomad_version``: render for this Nomad version instead of the one the agent reports;
    * ``admission``: the placement rules of ``nomadctl policies`` (namespace -> node pools,
      priorities, drivers; ``nomadctl.policies.admission``) checked before any job is planned or
      registered: ``auto`` when the cluster's namespaces carry them, ``required``, or ``off``;
    * ``max_event_batches``: how many event batches each environment keeps in KV.
    """

    kv_prefix: str = "nomadctl"
    deploy_timeout: float = 90.0
    start_timeout: float = 30.0
    release_timeout: float = 60.0
    lock_ttl: float = 15.0
    lock_delay: float = 5.0
    lock_wait: float = 30.0
    max_wait: float = 30.0
    call_workers: int = 8
    plugins: Mapping[str, str] = field(default_factory=dict)
    http_ca: str | None = None
    nomad_version: str | None = None
    admission: str = "auto"
    max_event_batches: int = 2000
    controller_id: str = field(default_factory=_default_controller_id)

    def __post_init__(self) -> None:
        for name, value in (
            ("deploy_timeout", self.deploy_timeout),
            ("start_timeout", self.start_timeout),
            ("release_timeout", self.release_timeout),
            ("max_wait", self.max_wait),
        ):
            if value <= 0:
                raise UsageError(f"{name} must be positive, not {value}")
        if self.lock_wait < 0:
            raise UsageError(f"lock_wait must not be negative, not {self.lock_wait}")
        if self.admission not in ("auto", "required", "off"):
            raise UsageError(f"admission must be auto, required or off, not {self.admission!r}")
        if self.call_workers < 1:
            raise UsageError("call_workers must be at least 1")
        if not self.kv_prefix or self.kv_prefix.startswith("/") or self.kv_prefix.endswith("/"):
            raise UsageError(
                f"kv_prefix {self.kv_prefix!r}: a non-empty key path without leading/trailing '/'"
            )
        for name, spec in self.plugins.items():
            PluginSpec.parse(name, spec)

    def plugin_specs(self, extra: Mapping[str, str] | None = None) -> dict[str, PluginSpec]:
        """Plugin name -> spec: the built-ins, then ``plugins``, then ``extra`` (an environment's)."""
        specs = {name: PluginSpec(name) for name in BUILTIN_PLUGINS}
        for source in (self.plugins, extra or {}):
            specs.update({name: PluginSpec.parse(name, text) for name, text in source.items()})
        return specs
