"""The ``nomadctl`` command line: parse options, call one core function, print.

Each area registers its commands in its own module of this package (``cli/manifest.py`` for
``nomadctl manifest ...`` and so on). ``COMMAND_MODULES`` maps each top-level command to its
module, which is imported only when that command runs (or help lists it): ``nomadctl render``
never pays for the Vault, Consul ACL or simulated-farm code, so CLI start-up stays short.

Every expected failure is a ``NomadctlError``: it is printed as ``Kind: message`` on stderr
(plus detail lines such as an expression caret) and the process exits with the error's exit
code, never with a traceback.
"""

from __future__ import annotations

import importlib
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


# Top-level command -> the module of this package that registers it on ``cli`` (keep sorted).
COMMAND_MODULES: dict[str, str] = {
    "controller": "controller",
    "demo": "demo",
    "env": "env",
    "manifest": "manifest",
    "policies": "policies",
    "render": "render",
    "sim": "sim",
    "validate": "render",
}


class LazyGroup(click.Group):
    """A group whose commands are registered by their modules on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMAND_MODULES) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"{__name__}.{module}")
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nomadctl")
def cli() -> None:
    """Run ALICE AliECS environments on HashiCorp Nomad."""


def main() -> None:
    cli()
