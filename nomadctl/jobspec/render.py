"""Renderings of the job model: API-JSON and HCL2 text, one file per job, and the checked render."""

from __future__ import annotations

import enum

import pydantic_core

from nomadctl.jobspec import hcl, mapping, validate
from nomadctl.jobspec.mapping import JobSet, RenderOptions
from nomadctl.jobspec.model import Job
from nomadctl.plan import EnvironmentPlan


class Format(enum.StrEnum):
    JSON = "json"
    HCL = "hcl"
    BOTH = "both"


def to_api_json(job: Job) -> str:
    """``{"Job": {...}}`` as accepted by ``nomad job run -json`` and ``POST /v1/jobs``.

    Serialised by pydantic-core (the text equals ``json.dumps(job.payload(), indent=2,
    ensure_ascii=False)``, several times faster at ALICE scale).
    """
    return pydantic_core.to_json({"Job": job}, indent=2, by_alias=True, exclude_none=True).decode() + "\n"


def to_hcl(job: Job) -> str:
    """The job as HCL2 (``nomad job run <file>.nomad.hcl``)."""
    return hcl.to_hcl(job)


def json_filename(job: Job) -> str:
    return f"{job.id}.json"


def hcl_filename(job: Job) -> str:
    return f"{job.id}.nomad.hcl"


def files(jobs: JobSet, fmt: Format = Format.BOTH) -> dict[str, str]:
    """File name -> content for every job, in job order (deterministic for a given plan)."""
    out: dict[str, str] = {}
    for job in jobs.jobs:
        if fmt in (Format.JSON, Format.BOTH):
            out[json_filename(job)] = to_api_json(job)
        if fmt in (Format.HCL, Format.BOTH):
            out[hcl_filename(job)] = to_hcl(job)
    return out


def render(plan: EnvironmentPlan, options: RenderOptions | None = None) -> JobSet:
    """Map ``plan`` to jobs and check them against Nomad's rules (``PlanError`` on failure)."""
    opts = options or RenderOptions()
    jobs = mapping.build_jobs(plan, opts)
    validate.validate(jobs.jobs, opts.nomad_version, max_priority=opts.max_priority)
    return jobs
