"""A ``KVProvider`` backed by one YAML or JSON file in the Consul KV layout (tests, offline use).

The file maps keys to values, either flat (``o2/runtime/aliecs/defaults/x: "1"``) or nested
(mappings joined with ``/``), or both::

    o2:
      hardware:
        detectors:
          TPC:
            flps:
              alio2-cr1-flp001: {}          # an empty mapping is a Consul folder key ".../flp001/"
        flps/alio2-cr1-flp001/cards: '{"0": {"serial": "1041", "endpoint": "0"}}'
    o2/runtime/aliecs/defaults/modulepath: ""

Values are kept as the raw text Consul would hold: ``false`` stays ``"false"``, ``010`` stays
``"010"``, ``~`` stays ``"~"``, an empty value is ``""``. A list (or any other non-scalar leaf) is
an error.
``put`` writes to an in-memory overlay and never back to the file.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Mapping
from pathlib import Path

import yaml

from nomadctl.errors import UsageError

__all__ = ["FileKVProvider"]


class _RawLoader(yaml.BaseLoader):
    """YAML 1.1 BaseLoader: every scalar stays a string, as Consul values are text."""


def _flatten(node: object, prefix: str, out: dict[str, str], source: str) -> None:
    if isinstance(node, Mapping):
        if not node and prefix:
            # an empty mapping stands for a Consul folder key (AliECS lists hosts that way)
            out[prefix.rstrip("/") + "/"] = ""
        for key, value in node.items():
            if not isinstance(key, str):
                raise UsageError(f"{source}: key {key!r} under {prefix or '/'} is not a string")
            part = key.strip("/")
            if not part:
                raise UsageError(f"{source}: empty key under {prefix or '/'}")
            _flatten(value, f"{prefix}{part}/" if isinstance(value, Mapping) else prefix + part, out, source)
        return
    key = prefix
    if node is None:
        out[key] = ""
    elif isinstance(node, str):
        out[key] = node
    elif isinstance(node, bool):
        # only reachable from JSON: keep the JSON spelling
        out[key] = "true" if node else "false"
    elif isinstance(node, int | float):
        out[key] = json.dumps(node)
    else:
        kind = "list" if isinstance(node, list) else type(node).__name__
        raise UsageError(f"{source}: key {key}: a {kind} is not a KV value (values are scalars)")


class FileKVProvider:
    """KV lookups from a mapping or a YAML/JSON file, with an in-memory overlay for writes."""

    def __init__(self, mapping: Mapping[str, object] | None = None, *, source: str = "<mapping>") -> None:
        data: dict[str, str] = {}
        _flatten(mapping or {}, "", data, source)
        self.source = source
        self._data = data
        self._sorted = sorted(data)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> FileKVProvider:
        """Load a ``.yaml``/``.yml``/``.json`` file; raises ``UsageError`` naming the file."""
        name = os.fspath(path)
        try:
            text = Path(name).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"{name}: KV file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{name}: cannot read KV file: {exc}") from None
        try:
            if name.endswith(".json"):
                loaded = json.loads(text)
            else:
                loaded = yaml.load(text, Loader=_RawLoader)  # noqa: S506 - BaseLoader builds no objects
        except (yaml.YAMLError, ValueError) as exc:
            first = " ".join(str(exc).split())
            raise UsageError(
                f"{name}: not valid {'JSON' if name.endswith('.json') else 'YAML'}: {first}"
            ) from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, Mapping):
            raise UsageError(f"{name}: the top level must be a mapping of KV keys")
        return cls(loaded, source=name)

    def get(self, key: str) -> str | None:
        """The value at ``key``, or ``None`` when there is no such key."""
        return self._data.get(key)

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (recursively), sorted, as full keys."""
        start = bisect.bisect_left(self._sorted, prefix)
        out = []
        for key in self._sorted[start:]:
            if not key.startswith(prefix):
                break
            out.append(key)
        return out

    def put(self, key: str, value: str) -> None:
        """Store ``value`` at ``key`` in memory (the file is never written)."""
        if key not in self._data:
            bisect.insort(self._sorted, key)
        self._data[key] = value
