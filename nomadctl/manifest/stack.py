"""Variable stacks as chained, read-only views over per-role layers.

AliECS keeps three ``gera.WrapMap`` chains (defaults, vars, user vars) from the global Consul layer
down to each role and flattens them on demand (reference §3.3):

    consolidated = Locals > userVars(flattened) > vars(flattened) > defaults(flattened)

so precedence is by category first and depth second. Flattening per role would copy the whole
stack (hundreds of entries) for every role of a 200-host environment; a ``StackView`` instead
holds the layers in precedence order and looks names up through them, remembering what it
found. Layers are never mutated once a view over them exists, so a view is a stable snapshot
that plan objects may keep (``TaskInstance.vars``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

Layer = Mapping[str, str]

_MISSING = object()


class StackView(Mapping[str, str]):
    """Read-only lookup through ``layers`` (first layer wins)."""

    __slots__ = ("_layers", "_memo")

    def __init__(self, layers: tuple[Layer, ...]) -> None:
        self._layers = layers
        self._memo: dict[str, object] = {}

    @property
    def layers(self) -> tuple[Layer, ...]:
        return self._layers

    def _find(self, key: str) -> object:
        memo = self._memo
        found = memo.get(key, _MISSING)
        if found is not _MISSING:
            return found
        found = None
        for layer in self._layers:
            value = layer.get(key, _MISSING)
            if value is not _MISSING:
                found = value
                break
        memo[key] = found
        return found

    def __getitem__(self, key: str) -> str:
        found = self._find(key)
        if found is None:
            raise KeyError(key)
        return found  # type: ignore[return-value]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) is not None

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        found = self._find(key)
        return default if found is None else found  # type: ignore[return-value]

    def _keys(self) -> dict[str, None]:
        keys: dict[str, None] = {}
        for layer in reversed(self._layers):
            keys.update(dict.fromkeys(layer))
        return keys

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._keys()))

    def __len__(self) -> int:
        return len(self._keys())

    def flatten(self) -> dict[str, str]:
        """A plain dict of the whole stack (key order sorted)."""
        out: dict[str, str] = {}
        for layer in reversed(self._layers):
            out.update(layer)
        return {k: out[k] for k in sorted(out)}

    def __repr__(self) -> str:
        return f"StackView({len(self._layers)} layers)"
