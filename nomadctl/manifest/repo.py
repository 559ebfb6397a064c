"""The AliECS configuration repository: ``workflows/<name>.yaml``, ``tasks/<name>.yaml``, ``jit/<name>``.

AliECS resolves ``load: readout`` to ``<repo>/tasks/readout@<hash>`` and ``include: qc-daq`` to
``<repo>/workflows/qc-daq@<hash>`` in the repository of the including workflow (reference §1.1).
nomadctl plans from one local checkout, so:

* a ``@revision`` suffix is ignored with a warning (the checkout *is* the revision);
* a reference containing ``/`` must name this repository (``<...>/<repo dir name>/workflows/x``);
  templates from other repositories are an error;
* names never escape the repository directory.

Every file read is remembered so that ``manifest_sha`` fingerprints exactly the inputs of a plan.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import yaml

from nomadctl.errors import ManifestError, UsageError
from nomadctl.manifest import yamlraw

_NAME = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9_.+-]*$")

WORKFLOWS = "workflows"
TASKS = "tasks"
JIT = "jit"


class ConfigRepo:
    """A local AliECS configuration repository, read-only, with a record of what was read."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        path = Path(root)
        if not path.is_dir():
            raise UsageError(f"--repo {os.fspath(root)}: not a directory")
        self.root = path.resolve()
        # AliECS identifies a repo by host/path (e.g. github.com/AliceO2Group/ControlWorkflows);
        # a local checkout is identified by its directory name so plans do not depend on where
        # the checkout lives.
        self.identifier = self.root.name
        self.revision = "local"
        self.warnings: list[str] = []
        self._contents: dict[str, bytes] = {}
        self._parsed: dict[str, yaml.Node | None] = {}

    # -- name resolution -------------------------------------------------------------------

    def resolve(self, ref: str, kind: str) -> str:
        """The bare template name that ``ref`` (a ``load:``/``include:`` value) designates."""
        label = {WORKFLOWS: "workflow", TASKS: "task"}.get(kind, kind)
        value = ref.strip()
        if "@" in value:
            value, _, revision = value.rpartition("@")
            self.warn(f"{kind}/{value}@{revision}: revision ignored, planning from the local checkout")
        if "/" in value:
            prefix, sep, name = value.rpartition(f"/{kind}/")
            if not sep or "/" in name:
                raise ManifestError(f"'{ref}' is not a {label} template reference")
            if prefix.rstrip("/").rsplit("/", 1)[-1] != self.identifier:
                raise ManifestError(
                    f"'{ref}' refers to another repository; only the config repo given with --repo "
                    f"({self.identifier}) is available"
                )
            value = name
        if not _NAME.match(value):
            raise ManifestError(f"invalid {label} template name '{ref}'")
        return value

    def workflow_path(self, name: str) -> str:
        return f"{WORKFLOWS}/{name}.yaml"

    def task_path(self, name: str) -> str:
        return f"{TASKS}/{name}.yaml"

    def jit_path(self, name: str) -> str:
        return f"{JIT}/{name}"

    # -- reading ---------------------------------------------------------------------------

    def exists(self, relpath: str) -> bool:
        return relpath in self._contents or (self.root / relpath).is_file()

    def read_text(self, relpath: str) -> str | None:
        """The text of ``relpath``, or ``None`` if there is no such file. Records the read."""
        data = self._contents.get(relpath)
        if data is None:
            full = self.root / relpath
            try:
                data = full.read_bytes()
            except FileNotFoundError:
                return None
            except IsADirectoryError:
                return None
            except OSError as err:
                raise ManifestError(f"cannot read: {err.strerror}", file=relpath) from None
            self._contents[relpath] = data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ManifestError("not valid UTF-8", file=relpath) from None

    def parse(self, relpath: str) -> yaml.Node | None:
        """The composed YAML of ``relpath`` (cached); ``ManifestError`` if missing or invalid."""
        if relpath in self._parsed:
            return self._parsed[relpath]
        source = self.read_text(relpath)
        if source is None:
            raise ManifestError(f"no such file in {self.identifier}", file=relpath)
        node = yamlraw.parse(source, relpath)
        self._parsed[relpath] = node
        return node

    def manifest_sha(self) -> str:
        """sha256 over the sorted ``(repo-relative path, content)`` of every file read."""
        digest = hashlib.sha256()
        for relpath in sorted(self._contents):
            digest.update(relpath.encode())
            digest.update(b"\0")
            digest.update(self._contents[relpath])
            digest.update(b"\0")
        return digest.hexdigest()

    @property
    def files_read(self) -> list[str]:
        return sorted(self._contents)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
