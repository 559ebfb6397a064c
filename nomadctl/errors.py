"""The one error tree of nomadctl.

    NomadctlError                 anything nomadctl reports to a user; never a traceback
    ├── UsageError                bad command-line options or environment (exit 2)
    ├── ManifestError             bad AliECS manifest input: file, line, role path, field (exit 2)
    │   └── ExpressionError       a ``{{ }}`` expression failed to parse or evaluate (adds a caret)
    ├── PlanError                 a valid manifest that cannot become Nomad jobs (exit 2)
    ├── ApiError                  a backend answered badly or not at all; per-backend subtrees
    │                             live in ``nomadctl.clients.errors`` and carry ``retryable``
    └── LifecycleError            a transition was refused or failed (exit 1)

The CLI prints ``Kind: message`` (``one_line()``) plus any ``details()`` lines and exits with
``exit_code``. Messages never contain tokens or secret values.
"""

from __future__ import annotations

from typing import ClassVar


class NomadctlError(Exception):
    """Base of every error nomadctl reports to its users."""

    exit_code: ClassVar[int] = 1
    kind: ClassVar[str] = "Error"

    def one_line(self) -> str:
        """The error as a single line, without the kind prefix."""
        return " ".join(str(self).split("\n")[0].split())

    def details(self) -> list[str]:
        """Extra lines shown under the one-line message (e.g. an expression and its caret)."""
        return []


class UsageError(NomadctlError):
    """Bad options, bad environment variables, or a missing input file."""

    exit_code = 2
    kind = "Usage"


class ManifestError(NomadctlError):
    """Bad manifest input, located as precisely as AliECS input allows.

    ``str()`` gives ``file:line: role path: field: message``; parts that are unknown are left out.
    Errors are raised deep inside the engine with only a message, and each enclosing layer fills
    in what it knows through ``locate()``, which never overwrites what a deeper layer set.
    """

    exit_code = 2
    kind = "Manifest"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        role_path: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.role_path = role_path
        self.field = field

    def locate(
        self,
        *,
        file: str | None = None,
        line: int | None = None,
        role_path: str | None = None,
        field: str | None = None,
    ) -> ManifestError:
        """Fill in location parts that are still unknown; returns self for ``raise e.locate(...)``."""
        if self.file is None and file is not None:
            self.file = file
            if self.line is None:
                self.line = line
        if self.role_path is None:
            self.role_path = role_path
        if self.field is None:
            self.field = field
        return self

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file is not None:
            parts.append(f"{self.file}:{self.line}" if self.line is not None else self.file)
        if self.role_path:
            parts.append(self.role_path)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)

    def one_line(self) -> str:
        return " ".join(str(self).split())


class ExpressionError(ManifestError):
    """A ``{{ }}`` expression that does not parse or does not evaluate.

    ``expression`` is the text between the braces and ``column`` the 0-based offset of the fault
    in it; ``details()`` renders the expression with a caret under that column.
    """

    def __init__(
        self,
        message: str,
        *,
        expression: str,
        column: int,
        file: str | None = None,
        line: int | None = None,
        role_path: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, file=file, line=line, role_path=role_path, field=field)
        self.expression = expression
        self.column = column

    def details(self) -> list[str]:
        flat = self.expression.replace("\n", " ").replace("\t", " ")
        col = max(0, min(self.column, len(flat)))
        return [f"    {{{{ {flat} }}}}", "    " + " " * (3 + col) + "^"]


class PlanError(NomadctlError):
    """An environment plan that cannot be turned into valid Nomad jobs."""

    exit_code = 2
    kind = "Plan"

    def __init__(self, message: str, *, role_path: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.role_path = role_path
        self.field = field

    def __str__(self) -> str:
        return ": ".join(p for p in (self.role_path, self.field, self.message) if p)


class ApiError(NomadctlError):
    """A Nomad, Consul or Vault API call failed; see ``nomadctl.clients.errors`` for the subtree."""

    kind = "API"
    retryable: bool = False


class LifecycleError(NomadctlError):
    """An environment transition was refused or failed."""

    kind = "Lifecycle"
