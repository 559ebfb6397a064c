"""Integration calls on a bounded thread pool, with their timeouts enforced.

``StartCalls`` submits each call to the pool and returns at once; ``AwaitCalls`` waits for each
until its own deadline (start + ``timeout``) and reports ``TIMED_OUT`` past it — AliECS only
passes the timeout to the plugin, nomadctl enforces it (docs/lifecycle.md, deviation 8). A call
given up on (timed out, cancelled) has its ``cancel`` event set so a waiting plugin ends.

The variables a plugin sees are AliECS's consolidated stack: the call's plan variables, the
core's runtime variables of the step (run number, timestamps), the global runtime variables set
by earlier calls (``<role>_called``, ``call_history``...), ``environment_id`` and the
``__call_*`` variables. They are assembled when the call actually starts on its thread, so a call
sees what earlier calls set.

Pending calls live in this process: a call started by another controller process (before a
crash, or a CLI command of an earlier transition) has no result here and is reported as failed
with a message saying so (docs/controller.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from nomadctl.controller.plugins import (
    CallContext,
    CallRequest,
    CallResult,
    EnvironmentAccess,
    PluginRegistry,
    parse_func,
)
from nomadctl.controller.settings import Clock
from nomadctl.lifecycle.hooks import CallHook
from nomadctl.lifecycle.schedule import HookResult, HookStatus

log = logging.getLogger(__name__)


@dataclass
class _Running:
    future: Future[CallResult]
    cancel: threading.Event
    deadline: float
    timeout: float


class RuntimeVars:
    """Global runtime variables set by plugins (thread-safe); persisted with the record."""

    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._vars = dict(initial or {})

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self._vars)

    def update(self, values: Mapping[str, str]) -> None:
        with self._lock:
            self._vars.update(values)


class CallRunner:
    """Starts, awaits, runs and cancels the calls of one environment."""

    def __init__(
        self,
        env_id: str,
        plugins: PluginRegistry,
        pool: ThreadPoolExecutor,
        *,
        clock: Clock,
        runtime: RuntimeVars,
        environment: EnvironmentAccess,
    ) -> None:
        self.env_id = env_id
        self.plugins = plugins
        self.pool = pool
        self.clock = clock
        self.runtime = runtime
        self.environment = environment
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()

    def _request_vars(self, hook: CallHook, step_vars: Mapping[str, str]) -> dict[str, str]:
        call = hook.call
        out = dict(call.vars)
        out.update(step_vars)
        out.update(self.runtime.snapshot())
        out.update(
            {
                "environment_id": self.env_id,
                "__call_func": call.func,
                "__call_timeout": call.timeout,
                "__call_trigger": call.trigger,
                "__call_await": call.await_ or call.trigger,
                "__call_critical": "true" if call.critical else "false",
                "__call_rolepath": call.path,
            }
        )
        return out

    def _execute(
        self, hook: CallHook, step_vars: Mapping[str, str], *, cancel: threading.Event, timeout: float
    ) -> CallResult:
        ref = parse_func(hook.call.func)
        if ref is None:
            return CallResult(error=f"call {hook.call.func!r} is not of the form plugin.Function(...)")
        plugin = self.plugins.get(ref.plugin)
        if plugin is None:
            return CallResult(error=f"no plugin {ref.plugin!r} is configured for call {ref}")
        request = CallRequest(
            env_id=self.env_id,
            func=ref,
            vars=self._request_vars(hook, step_vars),
            timeout=timeout,
            role_path=hook.call.path,
            trigger=hook.call.trigger,
            await_=hook.call.await_ or hook.call.trigger,
            critical=hook.call.critical,
        )
        try:
            result = plugin.call(request, CallContext(cancel=cancel, environment=self.environment))
        except Exception as err:  # a plugin bug must fail the call, never the controller
            log.exception("plugin %s raised in %s", ref.plugin, ref)
            return CallResult(error=f"plugin {ref.plugin} raised {type(err).__name__}: {err}")
        if not cancel.is_set():
            if result.vars:
                self.runtime.update(result.vars)
            if hook.call.return_var and not result.failed:
                self.runtime.update({hook.call.return_var: result.output})
        return result

    def start(self, calls: Sequence[CallHook], step_vars: Mapping[str, str]) -> None:
        """Submit ``calls``; a call with the same key still running is cancelled first."""
        now = self.clock.monotonic()
        for hook in calls:
            timeout = hook.call.timeout_seconds or 30.0
            cancel = threading.Event()
            future = self.pool.submit(self._execute, hook, dict(step_vars), cancel=cancel, timeout=timeout)
            with self._lock:
                old = self._running.pop(hook.key, None)
                self._running[hook.key] = _Running(future, cancel, now + timeout, timeout)
            if old is not None:
                old.cancel.set()

    def await_(self, calls: Sequence[CallHook]) -> tuple[HookResult, ...]:
        """Wait for each call until its deadline; one result per call."""
        return tuple(self._collect(hook, wait=True) for hook in calls)

    def _collect(self, hook: CallHook, *, wait: bool) -> HookResult:
        with self._lock:
            running = self._running.pop(hook.key, None)
        if running is None:
            return HookResult(
                hook.key,
                HookStatus.FAILED,
                f"call {hook.call.func} was started by another controller process (or before a restart); "
                "its result is not available here",
            )
        remaining = max(running.deadline - self.clock.monotonic(), 0.0) if wait else 0.0
        try:
            result = running.future.result(timeout=remaining)
        except FutureTimeout:
            running.cancel.set()
            return HookResult(hook.key, HookStatus.TIMED_OUT)
        return _to_hook_result(hook, result)

    def run(self, calls: Sequence[CallHook], step_vars: Mapping[str, str]) -> tuple[HookResult, ...]:
        """Run ``calls`` one after the other (teardown), each within its timeout."""
        out: list[HookResult] = []
        for hook in calls:
            self.start([hook], step_vars)
            out.append(self._collect(hook, wait=True))
        return tuple(out)

    def cancel(self, calls: Sequence[CallHook]) -> tuple[HookResult, ...]:
        """Abandon ``calls``; return the results of those that had already finished."""
        out: list[HookResult] = []
        for hook in calls:
            with self._lock:
                running = self._running.get(hook.key)
            if running is not None and running.future.done():
                out.append(self._collect(hook, wait=False))
                continue
            with self._lock:
                self._running.pop(hook.key, None)
            if running is not None:
                running.cancel.set()
        return tuple(out)

    def abandon_all(self) -> None:
        """Cancel everything still running (the environment is gone or the controller stops)."""
        with self._lock:
            running, self._running = list(self._running.values()), {}
        for r in running:
            r.cancel.set()


def _to_hook_result(hook: CallHook, result: CallResult) -> HookResult:
    output = result.output or result.note
    if result.failed:
        return HookResult(hook.key, HookStatus.FAILED, result.message, output=output)
    return HookResult(hook.key, HookStatus.OK, output=output)
