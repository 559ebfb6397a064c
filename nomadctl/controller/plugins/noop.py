"""``noop``: an explicit, logged no-op for plugins nomadctl does not ship.

A deployment maps AliECS plugin names it does not run (``dcs``, ``trg``, ``ddsched``, ``ccdb``,
``bookkeeping``, ``lhc``, ``kafka``) to ``noop`` on purpose (``--plugin dcs=noop``). Every such
call succeeds without doing anything, logs a warning, and its call event says so in ``output``.
"""

from __future__ import annotations

import logging

from nomadctl.controller.plugins.base import CallContext, CallRequest, CallResult

log = logging.getLogger(__name__)


class NoopPlugin:
    """Accepts any function of the plugin name it is mapped to."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def functions(self) -> None:
        return None

    def call(self, request: CallRequest, context: CallContext) -> CallResult:
        text = f"not executed: plugin {self.name!r} is mapped to noop ({request.func})"
        log.warning("env %s %s: call %s %s", request.env_id, request.role_path, request.func, text)
        return CallResult(output=text, note=text)
