"""``testplugin``: AliECS's test plugin (``core/integration/testplugin/plugin.go``), natively.

* ``Noop()`` logs ``testplugin_message`` and succeeds.
* ``Test()`` logs the message, sets the global runtime variable ``<role path>_called=true``,
  fails with ``error triggered in testplugin.Test call`` when ``testplugin_fail`` is true and
  hangs (until the controller gives up on it) when ``testplugin_hang`` is true.
* ``TimestampObserver()`` sets ``<role path>_called`` and, for each of ``run_start_time_ms``,
  ``run_start_completion_time_ms``, ``run_end_time_ms``, ``run_end_completion_time_ms`` that is set
  and not ``0``, ``<role path>_saw_<var>=true``.
* ``CallOrderObserver()`` appends its role path to the global ``call_history`` (comma list).

Booleans parse like Go's ``strconv.ParseBool``; a malformed value counts as false, as in AliECS.
Deviation: AliECS's ``Noop()`` sleeps for its whole call timeout before returning (it reads
``__call_timeout`` and sleeps); nomadctl enforces call timeouts, so that sleep would turn every
``Noop`` into a timeout. Here it returns at once.
"""

from __future__ import annotations

import logging

from nomadctl.controller.plugins.base import CallContext, CallRequest, CallResult

log = logging.getLogger(__name__)

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_RUN_TIMES = (
    "run_start_time_ms",
    "run_start_completion_time_ms",
    "run_end_time_ms",
    "run_end_completion_time_ms",
)
#: a hanging ``Test()`` gives up by itself after this long even if nobody cancels it
_HANG_LIMIT_S = 3600.0


def _flag(vars_: dict[str, str], name: str) -> bool:
    return vars_.get(name, "false") in _TRUE


class TestPlugin:
    name = "testplugin"
    __test__ = False  # not a pytest test class

    @property
    def functions(self) -> frozenset[str]:
        return frozenset({"Noop", "Test", "TimestampObserver", "CallOrderObserver"})

    def call(self, request: CallRequest, context: CallContext) -> CallResult:
        v = dict(request.vars)
        fn = request.func.function
        message = v.get("testplugin_message", f"running testplugin.{fn}")
        role = v.get("__call_rolepath", "")
        if fn == "Noop":
            log.info(
                "env %s %s: executing testplugin.Noop call: %s", request.env_id, request.role_path, message
            )
            return CallResult(note=message)
        if fn == "Test":
            log.info(
                "env %s %s: executing testplugin.Test call: %s", request.env_id, request.role_path, message
            )
            out_vars = {f"{role}_called": "true"} if role else {}
            if _flag(v, "testplugin_hang"):
                context.cancel.wait(_HANG_LIMIT_S)
                return CallResult(error="testplugin.Test call hung and was abandoned", vars=out_vars)
            if _flag(v, "testplugin_fail"):
                return CallResult(
                    error="error triggered in testplugin.Test call", vars=out_vars, note=message
                )
            if not role:
                return CallResult(error="could not get __call_rolepath")
            return CallResult(vars=out_vars, note=message)
        if fn == "TimestampObserver":
            if not role:
                return CallResult(error="could not get __call_rolepath")
            seen = {f"{role}_called": "true"}
            for key in _RUN_TIMES:
                value = v.get(key, "")
                if value and value != "0":
                    seen[f"{role}_saw_{key}"] = "true"
            return CallResult(vars=seen)
        if fn == "CallOrderObserver":
            if not role:
                return CallResult(error="could not get __call_rolepath")
            history = v.get("call_history", "")
            return CallResult(vars={"call_history": f"{history},{role}" if history else role})
        return CallResult(error=f"testplugin has no function {fn}")
