"""The CLI imports a command's module only when that command runs (start-up time of render)."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from nomadctl.cli import COMMAND_MODULES, cli


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from nomadctl.cli import cli\n"
        f"try:\n    cli({args!r})\nexcept SystemExit:\n    pass\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith(('nomadctl', 'hvac', 'consul')))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return set(out.stdout.split())


def test_version_imports_no_command_module():
    loaded = _modules_after(["--version"])
    assert not {m for m in loaded if m.startswith("nomadctl.cli.")}
    assert "nomadctl.manifest" not in loaded


def test_render_does_not_load_vault_consul_or_the_farm():
    loaded = _modules_after(["render", "--help"])
    assert "nomadctl.cli.render" in loaded
    assert not {m for m in loaded if m.startswith(("hvac", "consul", "nomadctl.sim", "nomadctl.clients"))}


@pytest.mark.parametrize("name", sorted(COMMAND_MODULES))
def test_every_listed_command_resolves(name):
    assert CliRunner().invoke(cli, [name, "--help"]).exit_code == 0
