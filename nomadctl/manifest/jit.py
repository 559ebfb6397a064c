"""JIT DPL sub-workflows (``dpl.*``) without an O2 installation: pre-generated templates only.

AliECS turns a DPL command into a workflow/task-template pair at environment creation by running
the command with ``--o2-control jit-<sha1>`` (reference §3.8). That needs the matching O2 build, so
nomadctl consumes templates generated beforehand and fails clearly otherwise:

* ``dpl.GenerateFromUri(name)`` includes ``workflows/jit-<name>.yaml`` when present;
* ``dpl.Generate(command)`` includes ``workflows/jit-<sha1(templated command)[:12]>.yaml`` when
  present;
* ``dpl.GenerateFromUriOrFallbackToTemplate(name)`` behaves like ``GenerateFromUri`` when
  ``jit/<name>`` exists and otherwise returns ``name`` itself, so ``workflows/<name>.yaml`` is
  included, exactly as AliECS falls back.

When the pre-generated file is missing the error names it and gives the command that writes it
(run in the repository directory, on a machine with O2).
"""

from __future__ import annotations

import hashlib

from nomadctl.errors import ManifestError
from nomadctl.manifest.expr import EvalContext, compile_template
from nomadctl.manifest.repo import ConfigRepo

_O2_PROFILE = "source /etc/profile.d/o2.sh && "


def _template(text: str, ctx: EvalContext, what: str) -> str:
    try:
        return compile_template(text).render(ctx)
    except ManifestError as err:
        raise ManifestError(
            f"{what}: JIT failed in template resolution of the dpl_command: {err.one_line()}"
        ) from None


def short_sha(command: str) -> str:
    """The 12-hex-digit name suffix nomadctl uses for ``dpl.Generate(command)``."""
    return hashlib.sha1(command.encode(), usedforsecurity=False).hexdigest()[:12]


class PregeneratedDpl:
    """``DplResolver`` over a config repo's pre-generated ``workflows/jit-*.yaml``."""

    def __init__(self, repo: ConfigRepo) -> None:
        self.repo = repo

    def _missing(self, what: str, command: str, workflow: str) -> ManifestError:
        flat = " ".join(command.split())
        return ManifestError(
            f"{what}: JIT generation needs an O2 installation; pre-generate "
            f"{self.repo.workflow_path(workflow)} by running, in the repository directory on a machine "
            f"with O2: {_O2_PROFILE}{flat} --o2-control {workflow}"
        )

    def generate(self, command: str, ctx: EvalContext) -> str:
        templated = _template(command, ctx, "dpl.Generate")
        workflow = f"jit-{short_sha(templated)}"
        if self.repo.exists(self.repo.workflow_path(workflow)):
            return workflow
        raise self._missing("dpl.Generate", templated, workflow)

    def _from_uri(self, name: str, ctx: EvalContext, fallback: bool, what: str) -> str:
        workflow = f"jit-{name}"
        pregenerated = self.repo.exists(self.repo.workflow_path(workflow))
        command = self.repo.read_text(self.repo.jit_path(name)) if "/" not in name else None
        if command is None:
            if fallback:  # AliECS falls back to workflows/<name>.yaml when jit/<name> is missing
                return name
            if pregenerated:
                return workflow
            raise ManifestError(
                f"{what}: failed to read DPL command from '{name}': no jit/{name} in the repository"
            )
        if pregenerated:
            return workflow
        raise self._missing(what, _template(command, ctx, what), workflow)

    def generate_from_uri(self, name: str, ctx: EvalContext) -> str:
        return self._from_uri(name, ctx, False, "dpl.GenerateFromUri")

    def generate_from_uri_or_fallback(self, name: str, ctx: EvalContext) -> str:
        return self._from_uri(name, ctx, True, "dpl.GenerateFromUriOrFallbackToTemplate")
