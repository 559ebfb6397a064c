"""Component configuration payloads: Consul-KV paths and their pongo2 templating (Apricot).

``config.Get(path)`` returns the payload at ``o2/components/<path>`` rendered as a **pongo2**
template (Django/Jinja-like: ``{{ var }}``, ``{% if %}``, ``{% include %}``), never with the expr
engine (``apricot/local/service.go`` ``GetAndProcessComponentConfiguration``). nomadctl renders it
with Jinja2 in a ``SandboxedEnvironment``: one environment per directory
``component/RUNTYPE/role``, whose loader reads the KV, so ``{% include "x" %}`` resolves in that
directory (sub-paths allowed) and a leading ``/`` makes the path absolute.

Differences from pongo2 that can show in output: booleans print ``True``/``False`` as in pongo2,
other non-string values print as Go ``%v``; undefined names print empty, as in pongo2. AliECS's
loader would reject a leading ``/`` (the query regex forbids it); nomadctl strips it instead, as the
reference describes absolute includes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.sandbox

from nomadctl.manifest.expr.gofmt import go_value

if TYPE_CHECKING:
    from nomadctl.manifest.expr.functions import KVStore

__all__ = [
    "COMPONENTS_PREFIX",
    "RUN_TYPES",
    "ConfigQuery",
    "PayloadRenderer",
    "QueryError",
    "parse_query",
]

COMPONENTS_PREFIX = "o2/components/"

# apricot.proto ``enum RunType`` names (the values do not matter here)
RUN_TYPES = frozenset(
    [
        "NULL",
        "PHYSICS",
        "TECHNICAL",
        "PEDESTAL",
        "PULSER",
        "LASER",
        "CALIBRATION_ITHR_TUNING",
        "CALIBRATION_VCASN_TUNING",
        "CALIBRATION_THR_SCAN",
        "CALIBRATION_DIGITAL_SCAN",
        "CALIBRATION_ANALOG_SCAN",
        "CALIBRATION_FHR",
        "CALIBRATION_ALPIDE_SCAN",
        "CALIBRATION",
        "COSMICS",
        "SYNTHETIC",
        "NOISE",
        "CALIBRATION_PULSE_LENGTH",
        "CALIBRATION_VRESETD",
        "ANY",
    ]
)

# componentcfg/query.go inputFullRegex: component/RUNTYPE/rolename/entry
_QUERY = re.compile(r"^([a-zA-Z0-9\-_]+)(/[A-Z0-9\-_]+)(/[a-z\-A-Z0-9_]+)(/[a-z\-A-Z0-9_/]+)$")
E_BAD_KEY = "bad component configuration key format"


class QueryError(Exception):
    """Apricot's ``E_BAD_KEY``."""


class ConfigQuery:
    """``componentcfg.Query``: component, run type, role name, entry key."""

    __slots__ = ("component", "entry", "role", "run_type")

    def __init__(self, component: str, run_type: str, role: str, entry: str) -> None:
        self.component = component
        self.run_type = run_type
        self.role = role
        self.entry = entry

    def path(self) -> str:
        return f"{self.component}/{self.run_type}/{self.role}/{self.entry}"

    def key(self) -> str:
        return COMPONENTS_PREFIX + self.path()

    def with_run_type(self, run_type: str) -> ConfigQuery:
        return ConfigQuery(self.component, run_type, self.role, self.entry)

    def with_role(self, role: str) -> ConfigQuery:
        return ConfigQuery(self.component, self.run_type, role, self.entry)


def parse_query(path: str) -> ConfigQuery:
    """``componentcfg.NewQuery``: raises ``QueryError`` for a malformed path or unknown run type."""
    match = _QUERY.match(path.strip(" \t\n\r\v\f"))
    if match is None:
        raise QueryError(E_BAD_KEY)
    component, run_type, role, entry = (g.lstrip("/") if i else g for i, g in enumerate(match.groups()))
    if run_type not in RUN_TYPES:
        raise QueryError(E_BAD_KEY)
    return ConfigQuery(component, run_type, role, entry)


def _finalize(value: object) -> object:
    # pongo2 prints booleans as Python does and nil as nothing; other values as Go would
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    if value is True or value is False:
        return "True" if value else "False"
    if type(value) is str:
        return value
    return go_value(value)


class _KVLoader(jinja2.BaseLoader):
    """The ``ConsulTemplateLoader`` of one base directory (``configuration/template/loader.go``)."""

    def __init__(self, kv: KVStore, base: str) -> None:
        self.kv = kv
        self.base = base

    def resolve(self, name: str) -> str:
        if name.startswith("/"):
            return name.lstrip("/")
        if name.startswith(self.base) or not self.base:
            return name
        return f"{self.base}/{name}"

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        path = self.resolve(template)
        try:
            key = parse_query(path).key()
        except QueryError:
            raise jinja2.TemplateNotFound(template, E_BAD_KEY) from None
        text = self.kv.get(key)
        if text is None:
            raise jinja2.TemplateNotFound(template, f"no payload at configuration path {key}")
        kv = self.kv
        return text, key, lambda: kv.get(key) == text


class PayloadRenderer:
    """Renders component payloads with Jinja2, caching one sandboxed environment per directory."""

    def __init__(self, kv: KVStore) -> None:
        self.kv = kv
        self._environments: dict[str, jinja2.sandbox.SandboxedEnvironment] = {}

    def _environment(self, base: str) -> jinja2.sandbox.SandboxedEnvironment:
        env = self._environments.get(base)
        if env is None:
            env = jinja2.sandbox.SandboxedEnvironment(
                loader=_KVLoader(self.kv, base),
                autoescape=False,
                keep_trailing_newline=True,
                finalize=_finalize,
                cache_size=400,
                auto_reload=True,
            )
            self._environments[base] = env
        return env

    def render(self, query: ConfigQuery, bindings: Mapping[str, Any]) -> str:
        """The processed payload at ``query``. Raises ``PayloadError`` with Apricot-like messages."""
        path = query.path()
        base, _, short = path.rpartition("/")
        try:
            template = self._environment(base).get_template(short)
            # a mapping, not keywords: variables may be called ``self`` or anything else
            return template.render(dict(bindings))
        except jinja2.TemplateNotFound as exc:
            raise PayloadError(exc.message or f"no payload at configuration path {query.key()}") from None
        except jinja2.TemplateError as exc:
            raise PayloadError(f"{type(exc).__name__}: {exc.message or exc}") from None
        except RecursionError:
            raise PayloadError("template recursion too deep (recursive include?)") from None
        except Exception as exc:  # a failing template function: AliECS returns the error as payload
            message = getattr(exc, "message", None) or str(exc)
            raise PayloadError(message) from None


class PayloadError(Exception):
    """A payload could not be rendered; the message becomes ``{"error":"..."}``."""
