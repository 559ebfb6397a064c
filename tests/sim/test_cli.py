"""``nomadctl sim serve`` prints the addresses to export and serves until told to stop."""

from __future__ import annotations

from click.testing import CliRunner

from nomadctl.cli import cli


def test_serve_prints_exports_and_stops_after_for() -> None:
    result = CliRunner().invoke(
        cli, ["sim", "serve", "--nodes", "flp:2", "--nodes", "epn:2:gpus=8", "--for", "0.2"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("export ")]
    assert lines[0].startswith("export NOMAD_ADDR=http://127.0.0.1:")
    assert lines[1].startswith("export CONSUL_HTTP_ADDR=http://127.0.0.1:")


def test_bad_node_spec_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["sim", "serve", "--nodes", "epn:0"])
    assert result.exit_code == 2
    assert "Usage: node spec 'epn:0': count must be a positive integer" in result.output


def test_duplicate_node_names_are_refused() -> None:
    result = CliRunner().invoke(cli, ["sim", "serve", "--nodes", "a:2", "--nodes", "a:3"])
    assert result.exit_code == 2
    assert "same node names" in result.output
