"""Engine values with no Python built-in counterpart: a Go ``[]int`` and a role reference."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IntList", "RoleRef"]


class IntList(list[int]):
    """A Go ``[]int`` (what the ``a..b`` range operator builds): formatted with ``%v``, not JSON."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class RoleRef:
    """A role as ``Parent()``, ``Up(n)`` and ``This()`` return it (AliECS's ``*wfNode``).

    Inside expressions it has the members ``.Name`` and ``.Path``; it formats as Go prints a struct
    pointer, ``&{<name> <path>}``. A missing role is Go nil (``None``), and ``.Path`` on it fails.
    """

    name: str
    path: str
