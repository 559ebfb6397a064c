from nomadctl.plan import (
    ControlMode,
    EnvironmentPlan,
    RoleKind,
    RoleNode,
    TaskInstance,
)


def _task(**kw: object) -> TaskInstance:
    base: dict[str, object] = dict(
        path="wf.host-a.readout",
        name="readout",
        parent_path="wf.host-a",
        task_class="readout",
        task_id="t1",
        control_mode=ControlMode.DIRECT,
        shell=True,
        value="exe --x",
        arguments=("'a b'", "c"),
        env=("A=1", "B=x=y", "A=2"),
        user="flp",
        host="a",
    )
    base.update(kw)
    return TaskInstance(**base)  # type: ignore[arg-type]


def test_shell_command_joins_without_requoting() -> None:
    t = _task()
    assert t.command == "exe --x 'a b' c"
    assert t.argv == ("/bin/sh", "-c", "exe --x 'a b' c")


def test_exec_argv_keeps_arguments_apart() -> None:
    t = _task(shell=False, value="/bin/echo", arguments=("a b", "c"))
    assert t.argv == ("/bin/echo", "a b", "c")
    assert t.command == "/bin/echo a b c"


def test_env_map_splits_at_first_equals_and_later_wins() -> None:
    assert _task().env_map == {"A": "2", "B": "x=y"}


def test_plan_role_lookup_and_ancestors() -> None:
    leaf = RoleNode(path="wf.host-a.readout", name="readout", kind=RoleKind.TASK)
    host = RoleNode(path="wf.host-a", name="host-a", kind=RoleKind.AGGREGATOR, children=(leaf,))
    root = RoleNode(path="wf", name="wf", kind=RoleKind.AGGREGATOR, children=(host,))
    plan = EnvironmentPlan(
        env_id="e1",
        workflow="wf",
        repo="r",
        root=root,
        tasks=(_task(),),
        calls=(),
        vars={},
        user_vars={},
        manifest_sha="x",
    )
    assert plan.role("wf.host-a") is host
    assert [r.name for r in plan.ancestors("wf.host-a.readout")] == ["wf", "host-a", "readout"]
    data = plan.to_dict()
    assert data["tasks"][0]["command"] == "exe --x 'a b' c"
    assert data["roles"]["children"][0]["children"][0]["path"] == "wf.host-a.readout"
