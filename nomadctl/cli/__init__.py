"""The ``nomadctl`` command line: parse options, call one core function, print.

Each area registers its commands in its own module of this package (``cli/manifest.py`` for
``nomadctl manifest ...`` and so on); the modules are imported at the bottom of this file.

Every expected failure is a ``NomadctlError``: it is printed as ``Kind: message`` on stderr
(plus detail lines such as an expression caret) and the process exits with the error's exit
code, never with a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from nomadctl import __version__
from nomadctl.errors import NomadctlError

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(fn: F) -> F:
    """Turn a ``NomadctlError`` raised by a command into a one-line message and its exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NomadctlError as err:
            click.echo(f"{err.kind}: {err.one_line()}", err=True)
            for line in err.details():
                click.echo(line, err=True)
            sys.exit(err.exit_code)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nomadctl")
def cli() -> None:
    """Run ALICE AliECS environments on HashiCorp Nomad."""


def main() -> None:
    cli()


# Command modules register themselves on ``cli`` when imported (keep this list sorted).
from nomadctl.cli import manifest as _manifest  # noqa: E402, F401
from nomadctl.cli import policies as _policies  # noqa: E402, F401
from nomadctl.cli import render as _render  # noqa: E402, F401
from nomadctl.cli import sim  # noqa: E402, F401
