"""``nomadctl manifest ...``: inspect what an AliECS workflow means, without any cluster."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from nomadctl.cli import cli, reports_errors
from nomadctl.errors import UsageError
from nomadctl.manifest import build_plan, load_var_files
from nomadctl.plan import CallInstance, EnvironmentPlan, RoleKind, RoleNode, TaskInstance
from nomadctl.providers.file import FileKVProvider

F = TypeVar("F", bound=Callable[..., Any])


@cli.group()
def manifest() -> None:
    """AliECS workflow and task templates."""


def parse_var_options(values: tuple[str, ...]) -> dict[str, str]:
    """``--var k=v`` options (the value is literal text and may contain ``=``)."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--var {item!r}: expected NAME=VALUE")
        out[key] = value
    return out


def load_inputs(
    var_files: tuple[str, ...], var_opts: tuple[str, ...], providers: str | None
) -> tuple[dict[str, str], FileKVProvider | None]:
    """User vars (var files first, then ``--var``, later wins) and the KV provider (or None)."""
    user_vars = load_var_files(var_files)
    user_vars.update(parse_var_options(var_opts))
    kv = FileKVProvider.from_file(providers) if providers is not None else None
    return user_vars, kv


def manifest_inputs(seed_help: str) -> Callable[[F], F]:
    """The options every command that plans a workflow takes: WORKFLOW, --repo, --var,
    --var-file, --providers, --seed (see ``load_inputs``)."""
    options = [
        click.argument("workflow"),
        click.option(
            "--repo", required=True, type=click.Path(), help="AliECS config repo (workflows/, tasks/)."
        ),
        click.option(
            "--var", "var_opts", multiple=True, metavar="NAME=VALUE", help="User variable (repeatable)."
        ),
        click.option(
            "--var-file", "var_files", multiple=True, type=click.Path(), help="YAML file of user variables."
        ),
        click.option(
            "--providers", type=click.Path(), help="YAML/JSON file with the Consul KV layout (o2/...)."
        ),
        click.option("--seed", type=int, help=seed_help),
    ]

    def decorate(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


@manifest.command("show")
@manifest_inputs("Seed for uid.New(), task ids and the environment id.")
@click.option("--env-id", help="Environment id (default: a new id).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole plan as JSON.")
@reports_errors
def show(
    *,
    workflow: str,
    repo: str,
    var_opts: tuple[str, ...],
    var_files: tuple[str, ...],
    providers: str | None,
    seed: int | None,
    env_id: str | None,
    as_json: bool,
) -> None:
    """Evaluate WORKFLOW as AliECS would and print its role tree (tasks, hooks, calls)."""
    user_vars, kv = load_inputs(var_files, var_opts, providers)
    plan = build_plan(repo, workflow, user_vars=user_vars, kv=kv, env_id=env_id, seed=seed)
    if as_json:
        json.dump(plan.to_dict(), sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
        return
    click.echo(render_tree(plan))
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)


def render_tree(plan: EnvironmentPlan) -> str:
    """The plan as an indented tree for people."""
    tasks = {t.path: t for t in plan.tasks}
    calls = {c.path: c for c in plan.calls}
    hooks = sum(1 for t in plan.tasks if t.is_hook)
    lines = [
        f"{plan.workflow}  env {plan.env_id}  manifest {plan.manifest_sha[:12]}  "
        f"{len(plan.tasks) - hooks} tasks, {hooks} hooks, {len(plan.calls)} calls"
    ]

    def visit(node: RoleNode, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        lines.append(prefix + branch + _describe(node, tasks.get(node.path), calls))
        child_prefix = prefix if top else prefix + ("   " if last else "│  ")
        task = tasks.get(node.path)
        if task is not None:
            lines.append(child_prefix + "    $ " + task.command)
        for i, child in enumerate(node.children):
            visit(child, child_prefix, i == len(node.children) - 1, False)

    visit(plan.root, "", True, True)
    return "\n".join(lines)


def _describe(node: RoleNode, task: TaskInstance | None, calls: dict[str, CallInstance]) -> str:
    flags = "" if node.critical else "  (non-critical)"
    if node.kind is RoleKind.TASK and task is not None:
        where = task.host or "any node"
        when = f"  hook {task.trigger} timeout {task.timeout}" if task.is_hook else ""
        return f"{node.name}  task {task.task_class} [{task.control_mode}] @ {where}{when}{flags}"
    if node.kind is RoleKind.CALL:
        call = calls[node.path]
        after = f" await {call.await_}" if call.await_ and call.await_ != call.trigger else ""
        return f"{node.name}  call {call.func} @ {call.trigger or '-'}{after}{flags}"
    if node.kind is RoleKind.INCLUDE:
        return f"{node.name}  (include {node.include}){flags}"
    return node.name + flags
