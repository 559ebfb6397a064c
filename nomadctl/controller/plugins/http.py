"""``http``: a generic plugin that POSTs each call to a configured URL (one URL per plugin name).

Request body (JSON)::

    {"environment_id": "...", "plugin": "dcs", "function": "PrepareForRun", "args": "",
     "func": "dcs.PrepareForRun()", "role_path": "...", "trigger": "...", "await": "...",
     "critical": true, "timeout_s": 60.0, "vars": {...}}

Answer: HTTP 2xx with a JSON object ``{"output": str, "error": str, "reason": str,
"vars": {str: str}}`` (every key optional). ``error`` fails the call as ``__call_error`` does;
``vars`` become global runtime variables. Any other answer (non-2xx, not JSON, no answer within
the call's timeout) fails the call with a one-line message naming the plugin, the URL's host and
path (never its query or credentials) and the status.

TLS is verified (system store, or ``Settings.http_ca``); there is no switch to turn it off.
"""

from __future__ import annotations

import json
import ssl
import urllib.parse
from typing import Any

import httpx

from nomadctl.controller.plugins.base import CallContext, CallRequest, CallResult

_MAX_ANSWER = 1 << 20


def _safe_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class HttpPlugin:
    """Runs calls of plugin ``name`` by POSTing them to ``url``."""

    def __init__(self, name: str, url: str, *, ca_file: str | None = None, transport: Any = None) -> None:
        self.name = name
        self.url = url
        self._where = _safe_url(url)
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._client = httpx.Client(verify=verify, transport=transport, follow_redirects=False)

    @property
    def functions(self) -> None:
        return None

    def close(self) -> None:
        self._client.close()

    def call(self, request: CallRequest, context: CallContext) -> CallResult:
        body = {
            "environment_id": request.env_id,
            "plugin": request.func.plugin,
            "function": request.func.function,
            "args": request.func.args,
            "func": str(request.func),
            "role_path": request.role_path,
            "trigger": request.trigger,
            "await": request.await_,
            "critical": request.critical,
            "timeout_s": request.timeout,
            "vars": dict(request.vars),
        }
        where = f"plugin {self.name}: POST {self._where}"
        try:
            response = self._client.post(self.url, json=body, timeout=max(request.timeout, 0.001))
        except httpx.TimeoutException:
            return CallResult(error=f"{where}: no answer within {request.timeout:g} s")
        except httpx.HTTPError as err:
            return CallResult(error=f"{where}: {type(err).__name__}")
        if not 200 <= response.status_code < 300:
            return CallResult(error=f"{where}: HTTP {response.status_code}")
        if len(response.content) > _MAX_ANSWER:
            return CallResult(error=f"{where}: answer larger than {_MAX_ANSWER} bytes")
        try:
            data = json.loads(response.content or b"{}")
        except ValueError:
            return CallResult(error=f"{where}: answer is not JSON")
        if not isinstance(data, dict):
            return CallResult(error=f"{where}: answer is not a JSON object")
        raw_vars = data.get("vars") or {}
        if not isinstance(raw_vars, dict):
            return CallResult(error=f"{where}: 'vars' is not an object")
        return CallResult(
            output=str(data.get("output") or ""),
            error=str(data.get("error") or ""),
            reason=str(data.get("reason") or ""),
            vars={str(k): str(v) for k, v in raw_vars.items()},
        )
