"""Errors the farm's Python handle raises (unknown node, allocation or task, bad fault rule)."""

from __future__ import annotations

from nomadctl.errors import NomadctlError


class SimError(NomadctlError):
    """A request to the simulated farm that names something it does not have."""

    kind = "Sim"
