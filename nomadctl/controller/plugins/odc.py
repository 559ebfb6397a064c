"""``odc``: the ODC calls of AliECS workflows, done natively on the EPN groups nomadctl runs.

In AliECS the ``odc.*`` calls drive ODC/DDS, which runs the EPN topology. With nomadctl the EPN
side is one (or more) *replicated* placement group of the environment itself — n replicas, NMIN
= n - m — deployed by DEPLOY and watched by the health rules, so ODC has nothing left to do.
Each call is answered from that group:

==========================  ==============================================================
``PreDeploymentCleanup()``  reports leftover jobs of the EPN groups (a crashed earlier attempt)
``PartitionInitialize()``   nothing to do: DEPLOY places the EPN groups (says so)
``Configure()``, ``Start()``, ``Stop()``, ``EnsureStop()``
                            nothing is sent to the EPN processes: process-level (OCC/FairMQ)
                            control comes in a later issue; the call says so
``Reset()``                 checks every EPN group still has at least NMIN healthy replicas
``PartitionTerminate()``    stops the jobs of the EPN groups
``EnsureCleanup()``, ``EnsureCleanupLegacy()``
                            verifies the EPN groups are gone, stopping any that are left
==========================  ==============================================================

An environment without a replicated group gets a no-op with a note saying so.
"""

from __future__ import annotations

from nomadctl.controller.plugins.base import CallContext, CallRequest, CallResult, GroupSnapshot

_PROCESS_LEVEL = frozenset({"Configure", "Start", "Stop", "EnsureStop"})
_FUNCTIONS = frozenset(
    {
        "PreDeploymentCleanup",
        "PartitionInitialize",
        "Configure",
        "Start",
        "Stop",
        "EnsureStop",
        "Reset",
        "PartitionTerminate",
        "EnsureCleanup",
        "EnsureCleanupLegacy",
    }
)


def _describe(groups: list[GroupSnapshot]) -> str:
    return ", ".join(f"{g.name} {g.healthy}/{g.count} healthy (nmin {g.nmin})" for g in groups)


class OdcPlugin:
    name = "odc"

    @property
    def functions(self) -> frozenset[str]:
        return _FUNCTIONS

    def call(self, request: CallRequest, context: CallContext) -> CallResult:
        fn = request.func.function
        if fn not in _FUNCTIONS:
            return CallResult(error=f"odc has no function {fn}")
        env = context.environment
        epn = [g for g in env.groups() if g.kind == "replicated"]
        names = [g.name for g in epn]
        if not epn:
            return CallResult(note=f"odc.{fn}: no EPN (replicated) group in this environment; nothing to do")
        if fn == "PreDeploymentCleanup":
            left = env.running_jobs(names)
            note = (
                f"leftover EPN jobs (DEPLOY will update them): {', '.join(left)}"
                if left
                else "nothing to clean"
            )
            return CallResult(note=f"odc.PreDeploymentCleanup: {note}")
        if fn == "PartitionInitialize":
            return CallResult(
                note=f"odc.PartitionInitialize: the EPN groups {', '.join(names)} are placed by DEPLOY "
                "(replicated Nomad groups with NMIN); nothing sent to ODC"
            )
        if fn in _PROCESS_LEVEL:
            return CallResult(
                note=f"odc.{fn}: no process-level {fn.upper()} sent to the EPN tasks (OCC/FairMQ control "
                f"comes in a later issue); EPN groups: {_describe(epn)}"
            )
        if fn == "Reset":
            failing = [g for g in epn if g.healthy < g.nmin]
            if failing:
                return CallResult(error=f"odc.Reset: EPN groups below NMIN: {_describe(failing)}")
            return CallResult(note=f"odc.Reset: EPN groups at or above NMIN: {_describe(epn)}")
        if fn == "PartitionTerminate":
            stopped = env.stop_groups(names)
            return CallResult(
                note=f"odc.PartitionTerminate: stopped {', '.join(stopped) or 'nothing (already gone)'}"
            )
        # EnsureCleanup, EnsureCleanupLegacy
        left = env.running_jobs(names)
        if not left:
            return CallResult(note=f"odc.{fn}: the EPN groups are gone")
        stopped = env.stop_groups(names)
        return CallResult(note=f"odc.{fn}: stopped EPN jobs that were still running: {', '.join(stopped)}")
