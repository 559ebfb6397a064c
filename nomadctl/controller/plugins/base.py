"""The integration plugin interface: what a call such as ``dcs.PrepareForRun()`` runs.

AliECS resolves ``<plugin>.<Function>(<args>)`` to a function of an integration plugin, runs it
with the call's variable stack and treats it as failed when the plugin writes ``__call_error``
(and ``__call_error_reason``) into that stack (``core/workflow/callable/call.go``). Here a plugin
returns a ``CallResult``: ``error``/``reason`` play ``__call_error``/``__call_error_reason``,
``output`` is the string result (stored, never interpreted as a status), ``vars`` are global
runtime variables the plugin sets for later calls (AliECS's ``SetGlobalRuntimeVar``), ``note``
says what was (not) done, for the call event.

Plugins run on the controller's call thread pool. The controller enforces ``request.timeout``
(reporting ``DONE_TIMEOUT``) and sets ``context.cancel`` when it gives up on a call or the
transition is cancelled; a plugin that waits must wait on that event so its thread ends.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

_FUNC = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\((.*)\)\s*$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class FuncRef:
    """A call's ``func`` split into plugin, function and the raw argument text."""

    plugin: str
    function: str
    args: str

    def __str__(self) -> str:
        return f"{self.plugin}.{self.function}({self.args})"


def parse_func(func: str) -> FuncRef | None:
    """``"dcs.PrepareForRun()"`` -> ``FuncRef("dcs", "PrepareForRun", "")``; ``None`` if the text
    is not of that form (the plan validated it already; this is the controller's own check)."""
    m = _FUNC.match(func)
    return FuncRef(m.group(1), m.group(2), m.group(3).strip()) if m else None


@dataclass(frozen=True, slots=True)
class CallRequest:
    """One call to run. ``vars`` is the consolidated stack AliECS would pass (plan variables,
    runtime variables, ``environment_id`` and the ``__call_*`` variables)."""

    env_id: str
    func: FuncRef
    vars: Mapping[str, str]
    timeout: float
    role_path: str
    trigger: str
    await_: str
    critical: bool


@dataclass(frozen=True, slots=True)
class CallResult:
    output: str = ""
    error: str = ""
    reason: str = ""
    vars: Mapping[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error)

    @property
    def message(self) -> str:
        """AliECS's error text: ``__call_error`` + ``". REASON: "`` + ``__call_error_reason``."""
        return f"{self.error}. REASON: {self.reason}" if self.reason else self.error


@dataclass(frozen=True, slots=True)
class GroupSnapshot:
    """A placement group as a plugin sees it (name, Nomad job, kind, counts)."""

    name: str
    job_id: str
    kind: str
    count: int
    nmin: int
    healthy: int
    state: str


class EnvironmentAccess(Protocol):
    """What the controller lets a plugin do to the environment it is called for."""

    def groups(self) -> Sequence[GroupSnapshot]:
        """The environment's long-running placement groups, judged now."""
        ...

    def stop_groups(self, names: Sequence[str]) -> list[str]:
        """Stop the jobs holding these groups; returns the job ids stopped."""
        ...

    def running_jobs(self, names: Sequence[str]) -> list[str]:
        """Jobs holding these groups that still have allocations not yet stopped."""
        ...


@dataclass(frozen=True, slots=True)
class CallContext:
    cancel: threading.Event
    environment: EnvironmentAccess


class Plugin(Protocol):
    """An integration plugin. ``functions`` lists the functions it implements (checked when an
    environment is created); ``None`` accepts any function name (``noop``, ``http``)."""

    name: str

    @property
    def functions(self) -> frozenset[str] | None: ...

    def call(self, request: CallRequest, context: CallContext) -> CallResult: ...
