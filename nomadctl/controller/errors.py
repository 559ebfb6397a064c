"""Errors of the environment controller, placed in the one tree of ``nomadctl.errors``.

    LifecycleError                         (nomadctl.errors)
    ├── TransitionRefused          exit 2  the request cannot be carried out; nothing changed
    │   ├── EnvironmentNotFound            no such environment record
    │   ├── EnvironmentBusy                another controller holds the environment's lock
    │   ├── PlacementRefused               ``nomad job plan`` says a group cannot reach its NMIN
    │   ├── ManifestChanged                the config repo no longer gives the planned manifests
    │   └── InterruptedTeardown            a teardown was interrupted: only destroy may follow
    ├── TransitionFailed           exit 1  the transition ran and failed (GO_ERROR followed)
    ├── LockLost                   exit 1  the lock was lost mid-transition; the record says where
    └── RecordConflict             exit 1  someone changed the record without holding the lock
    PlanError                              (nomadctl.errors)
    ├── PluginError                exit 2  a call names a plugin or function nomadctl cannot run
    └── SecretMissing              exit 2  a ``vault:`` reference names a secret that is absent

Exit codes follow ``nomad job plan``/``run`` where they make sense: 0 done, 1 a transition failed
(the environment went to ERROR), 2 bad input or refused (placement impossible included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nomadctl.errors import LifecycleError, PlanError

if TYPE_CHECKING:
    from nomadctl.controller.service import TransitionReport


class TransitionRefused(LifecycleError):
    """Refused before anything changed (unknown environment, event not allowed here...)."""

    exit_code = 2


class EnvironmentNotFound(TransitionRefused):
    """There is no record of this environment."""


class EnvironmentBusy(TransitionRefused):
    """Another controller is transitioning this environment (its lock is held)."""


class PlacementRefused(TransitionRefused):
    """A placement group cannot be placed enough to reach its NMIN (``nomad job plan`` says why)."""

    kind = "Placement"


class ManifestChanged(TransitionRefused):
    """The workflow or task templates changed since the environment was created."""


class InterruptedTeardown(TransitionRefused):
    """A teardown was interrupted; only ``destroy`` may continue it."""


class TransitionFailed(LifecycleError):
    """The transition failed; GO_ERROR (and for a creation, a teardown) followed.

    ``report`` is what happened, for callers that want more than the one line.
    """

    exit_code = 1

    def __init__(self, message: str, report: TransitionReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class LockLost(LifecycleError):
    """The environment's Consul lock was lost during a transition."""


class RecordConflict(LifecycleError):
    """The environment record changed under a lock holder (check-and-set lost)."""


class PluginError(PlanError):
    """A call names a plugin (or a function of it) that this controller cannot run."""

    kind = "Plugin"


class SecretMissing(PlanError):
    """A ``vault:`` reference of the plan names a secret or key that does not exist."""

    kind = "Secret"
