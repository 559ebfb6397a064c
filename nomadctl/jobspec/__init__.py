"""EnvironmentPlan -> typed Nomad job model -> API-JSON and HCL2 text. Pure: no I/O.

Entry points::

    jobs = render(plan, RenderOptions(nomad_version=NomadVersion.parse("1.10")))  # map + validate
    files(jobs, Format.BOTH)        # {"aliecs-<env>.json": "...", "aliecs-<env>.nomad.hcl": "..."}
    jobs.tasks["<task role path>"]  # TaskRef: job, group, Nomad task, port labels
    jobs.groups                     # GroupRef: kind, count, nmin, critical
    jobs.hooks                      # HookJob: trigger -> parameterized job to dispatch

See docs/jobspec.md for the mapping rules and the placement variables.
"""

from nomadctl.jobspec.mapping import (
    GroupKind,
    GroupRef,
    HookJob,
    JobKind,
    JobSet,
    RenderOptions,
    Split,
    TaskRef,
    build_jobs,
    parse_trigger,
)
from nomadctl.jobspec.model import Job
from nomadctl.jobspec.render import Format, files, render, to_api_json, to_hcl
from nomadctl.jobspec.validate import JobValidationError, Violation, check_job, check_jobs, validate
from nomadctl.jobspec.versions import CURRENT, NomadVersion

__all__ = [
    "CURRENT",
    "Format",
    "GroupKind",
    "GroupRef",
    "HookJob",
    "Job",
    "JobKind",
    "JobSet",
    "JobValidationError",
    "NomadVersion",
    "RenderOptions",
    "Split",
    "TaskRef",
    "Violation",
    "build_jobs",
    "check_job",
    "check_jobs",
    "files",
    "parse_trigger",
    "render",
    "to_api_json",
    "to_hcl",
    "validate",
]
