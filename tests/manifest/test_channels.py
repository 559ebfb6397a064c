"""Channels: inheritance, merging, bind map, target resolution, co-location (reference §1.7)."""

# ruff: noqa: E501  (inline YAML fixtures read best on one line)

from __future__ import annotations

import pytest

from nomadctl.errors import ManifestError
from nomadctl.plan import Addressing, TargetKind, Transport

from .conftest import plan_of, task_of

SENDER = """
name: sender
control: {mode: fairmq}
bind:
  - {name: out, type: push, transport: shmem, addressing: ipc, rateLogging: "{{ rate }}"}
command: {value: s}
"""
RECEIVER = "name: receiver\ncontrol: {mode: fairmq}\ncommand: {value: r}\n"
TTS = {"sender": SENDER, "receiver": RECEIVER}

CHAIN = """
name: w
defaults: {rate: "5"}
roles:
  - name: host-{{ it }}
    for: {range: '["h1","h2"]', var: it}
    constraints: [{attribute: machine_id, value: "{{ it }}"}]
    roles:
      - name: s
        task: {load: sender}
      - name: grp
        roles:
          - name: r
            connect: [{name: out, type: pull, target: "{{ Up(2).Path }}.s:out", rateLogging: "{{ rate }}"}]
            task: {load: receiver}
"""


def test_path_target_resolves_to_the_peer_ipc_address(make_repo) -> None:
    plan = plan_of(make_repo(workflows={"w": CHAIN}, tasks=TTS), env_id="E")
    s, r = task_of(plan, "w.host-h1.s"), task_of(plan, "w.host-h1.grp.r")
    (out,) = s.bind
    assert out.addressing is Addressing.IPC
    assert out.transport is Transport.SHMEM
    assert out.rate_logging == "5"
    assert out.address is not None
    assert out.address.startswith("ipc://@o2ipc-")
    assert len(out.address) == len("ipc://@o2ipc-") + 20
    (inp,) = r.connect
    assert (inp.target, inp.target_kind, inp.peer_task, inp.peer_channel, inp.address) == (
        "w.host-h1.s:out",
        TargetKind.PATH,
        "w.host-h1.s",
        "out",
        out.address,
    )
    assert task_of(plan, "w.host-h2.s").bind[0].address != out.address


def test_ipc_addresses_are_deterministic_per_environment(make_repo) -> None:
    root = make_repo(workflows={"w": CHAIN}, tasks=TTS)
    a = task_of(plan_of(root, env_id="E", seed=1), "w.host-h1.s").bind[0].address
    b = task_of(plan_of(root, env_id="E", seed=2), "w.host-h1.s").bind[0].address
    c = task_of(plan_of(root, env_id="F", seed=1), "w.host-h1.s").bind[0].address
    assert a == b != c


def test_global_alias_and_literal_targets(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": """
        name: w
        roles:
          - name: s
            bind: [{name: data, type: push, global: "proxy-{{ 'x' }}"}]
            constraints: [{attribute: machine_id, value: h1}]
            task: {load: receiver}
          - name: g
            connect:
              - {name: data, type: pull, target: "::proxy-x"}
              - {name: lit, type: pull, target: "tcp://10.0.0.1:5555"}
            task: {load: receiver}
        """
        },
        tasks=TTS,
    )
    g = task_of(plan_of(root), "w.g")
    by_name = {c.name: c for c in g.connect}
    assert (by_name["data"].target_kind, by_name["data"].peer_task, by_name["data"].address) == (
        TargetKind.GLOBAL,
        "w.s",
        None,
    )
    assert (by_name["lit"].target_kind, by_name["lit"].address) == (TargetKind.LITERAL, "tcp://10.0.0.1:5555")
    assert task_of(plan_of(root), "w.s").bind[0].global_alias == "proxy-x"


def test_role_channels_are_inherited_and_the_closest_wins(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": """
        name: w
        bind: [{name: a, type: push, sndBufSize: 1}, {name: b, type: push}]
        roles:
          - name: mid
            bind: [{name: a, type: pub, sndBufSize: 2}]
            roles:
              - name: t
                task: {load: tt}
        """
        },
        tasks={
            "tt": "name: tt\nbind: [{name: a, type: push, sndBufSize: 3}, {name: c, type: pull}]\ncommand: {value: x}\n"
        },
    )
    t = task_of(plan_of(root), "w.mid.t")
    assert [(c.name, c.type.value, c.snd_buf_size) for c in t.bind] == [
        ("a", "pub", 2),
        ("b", "push", 1000),
        ("c", "pull", 1000),
    ]


def test_unknown_target_is_an_error(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: r\n    connect: [{name: x, type: pull, target: 'w.nope:x'}]\n    task: {load: receiver}\n"
        },
        tasks=TTS,
    )
    with pytest.raises(
        ManifestError,
        match=r"workflows/w.yaml:4: w.r: connect\[0\].target: could not match target for outbound channel w.nope:x",
    ):
        plan_of(root)


def test_task_template_connect_without_workflow_target_is_an_error(make_repo) -> None:
    tt = "name: tt\nconnect: [{name: x, type: pull, target: 'tcp://ignored:1'}]\ncommand: {value: x}\n"
    root = make_repo(
        workflows={"w": "name: w\nroles:\n  - name: r\n    task: {load: tt}\n"}, tasks={"tt": tt}
    )
    with pytest.raises(ManifestError, match="has no target \\(task-template connect targets are ignored"):
        plan_of(root)


def test_duplicate_global_alias_is_an_error(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": """
        name: w
        bind: [{name: d, type: push, global: same}]
        roles:
          - {name: a, task: {load: receiver}}
          - {name: b, task: {load: receiver}}
        """
        },
        tasks=TTS,
    )
    with pytest.raises(
        ManifestError, match=r"illegal redefinition of global channel alias ::same: bound by w.a:d and w.b:d"
    ):
        plan_of(root)


def test_ipc_peer_on_another_host_is_an_error(make_repo) -> None:
    body = CHAIN.replace('target: "{{ Up(2).Path }}.s:out"', 'target: "w.host-h1.s:out"')
    with pytest.raises(
        ManifestError,
        match=r"w.host-h2.grp.r: connect\[0\].target: ipc channel to w.host-h1.s:out needs both tasks on one host, but this task is pinned to h2 and the peer is pinned to h1",
    ):
        plan_of(make_repo(workflows={"w": body}, tasks=TTS))


def test_shmem_peer_must_share_a_replicated_group(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": """
        name: w
        roles:
          - name: g
            defaults: {nomad_replicas: "3"}
            roles:
              - name: s
                bind: [{name: o, type: push, transport: shmem}]
                task: {load: receiver}
              - name: r
                connect: [{name: o, type: pull, target: "w.g.s:o"}]
                task: {load: receiver}
          - name: outside
            connect: [{name: o, type: pull, target: "w.g.s:o"}]
            task: {load: receiver}
        """
        },
        tasks=TTS,
    )
    with pytest.raises(
        ManifestError,
        match=r"w.outside: .*shmem channel to w.g.s:o needs both tasks on one host, but this task is not pinned to any host and the peer is in the replicated group w.g",
    ):
        plan_of(root)


def test_tcp_between_groups_is_fine_and_resolved_after_placement(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": """
        name: w
        roles:
          - name: g
            defaults: {nomad_replicas: "3"}
            roles:
              - {name: s, bind: [{name: o, type: push, global: g-out}], task: {load: receiver}}
          - name: q
            constraints: [{attribute: machine_id, value: qc1}]
            roles:
              - {name: m, connect: [{name: o, type: pull, target: "::g-out"}], task: {load: receiver}}
        """
        },
        tasks=TTS,
    )
    m = task_of(plan_of(root), "w.q.m")
    assert (m.connect[0].peer_task, m.connect[0].address) == ("w.g.s", None)
    assert task_of(plan_of(root), "w.g.s").bind[0].address is None


def test_bind_literal_target(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\ndefaults: {p: '47706'}\nroles:\n  - name: s\n    bind: [{name: o, type: pub, target: 'tcp://*:{{ p }}'}]\n    task: {load: receiver}\n"
        },
        tasks=TTS,
    )
    assert task_of(plan_of(root), "w.s").bind[0].address == "tcp://*:47706"


def test_bind_invalid_literal_target(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: s\n    bind: [{name: o, type: pub, target: 'udp://x'}]\n    task: {load: receiver}\n"
        },
        tasks=TTS,
    )
    with pytest.raises(ManifestError, match="inbound channel target udp://x provided but invalid"):
        plan_of(root)


def test_channel_without_type_is_an_error(make_repo) -> None:
    root = make_repo(
        workflows={"w": "name: w\nroles:\n  - name: s\n    bind: [{name: o}]\n    task: {load: receiver}\n"},
        tasks=TTS,
    )
    with pytest.raises(ManifestError, match="channel 'o' has no type"):
        plan_of(root)
