"""Integration plugins for ``call`` roles (``<plugin>.<Function>()``) and their registry.

Shipped: ``testplugin`` (AliECS's test plugin), ``odc`` (native replacement acting on the EPN
groups nomadctl runs), ``http`` (generic: POST to a configured URL per plugin name) and ``noop``
(an explicit, logged no-op). AliECS plugins nomadctl does not ship (``dcs``, ``trg``,
``ddsched``, ``ccdb``, ``bookkeeping``, ``lhc``, ``kafka``...) are a ``PluginError`` when an
environment is created, unless the settings map them to ``noop`` or ``http:<url>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from nomadctl.controller.errors import PluginError
from nomadctl.controller.plugins.base import (
    CallContext,
    CallRequest,
    CallResult,
    EnvironmentAccess,
    FuncRef,
    GroupSnapshot,
    Plugin,
    parse_func,
)
from nomadctl.controller.plugins.http import HttpPlugin
from nomadctl.controller.plugins.noop import NoopPlugin
from nomadctl.controller.plugins.odc import OdcPlugin
from nomadctl.controller.plugins.testplugin import TestPlugin
from nomadctl.controller.settings import PluginSpec
from nomadctl.plan import CallInstance

__all__ = [
    "CallContext",
    "CallRequest",
    "CallResult",
    "EnvironmentAccess",
    "FuncRef",
    "GroupSnapshot",
    "Plugin",
    "PluginRegistry",
    "parse_func",
]

_MAX_LISTED = 5


class PluginRegistry:
    """Plugin name -> plugin, built from the specs in force for one environment."""

    def __init__(self, specs: Mapping[str, PluginSpec], *, http_ca: str | None = None) -> None:
        self.specs = dict(specs)
        self._plugins: dict[str, Plugin] = {}
        for name, spec in self.specs.items():
            if spec.kind == "testplugin":
                self._plugins[name] = TestPlugin()
            elif spec.kind == "odc":
                self._plugins[name] = OdcPlugin()
            elif spec.kind == "noop":
                self._plugins[name] = NoopPlugin(name)
            elif spec.kind == "http":
                self._plugins[name] = HttpPlugin(name, spec.url, ca_file=http_ca)
            else:  # PluginSpec.parse admits nothing else
                raise PluginError(f"plugin {name}: unknown kind {spec.kind!r}")

    def get(self, name: str) -> Plugin | None:
        return self._plugins.get(name)

    def noop_names(self) -> list[str]:
        return sorted(n for n, s in self.specs.items() if s.kind == "noop")

    def close(self) -> None:
        for plugin in self._plugins.values():
            if isinstance(plugin, HttpPlugin):
                plugin.close()

    def problems(self, calls: Iterable[CallInstance]) -> list[str]:
        """One line per call this registry cannot run (unknown plugin or function)."""
        out: list[str] = []
        for call in calls:
            ref = parse_func(call.func)
            if ref is None:
                out.append(f"{call.path}: call {call.func!r} is not of the form plugin.Function(...)")
                continue
            plugin = self._plugins.get(ref.plugin)
            if plugin is None:
                out.append(
                    f"{call.path}: call {call.func} needs plugin {ref.plugin!r}, which nomadctl does not "
                    f"ship; map it with --plugin {ref.plugin}=noop or --plugin {ref.plugin}=http:<url>"
                )
            elif plugin.functions is not None and ref.function not in plugin.functions:
                out.append(
                    f"{call.path}: call {call.func}: plugin {ref.plugin} has no function {ref.function} "
                    f"(it has {', '.join(sorted(plugin.functions))})"
                )
        return out

    def check(self, calls: Iterable[CallInstance]) -> None:
        """``PluginError`` naming the first few calls this registry cannot run."""
        problems = self.problems(calls)
        if problems:
            more = f" (and {len(problems) - _MAX_LISTED} more)" if len(problems) > _MAX_LISTED else ""
            raise PluginError("; ".join(problems[:_MAX_LISTED]) + more)
