"""Decoding roles as AliECS's yaml.Unmarshal does: kinds, traits defaults, maps, channels."""

# ruff: noqa: E501  (inline YAML fixtures read best on one line)

from __future__ import annotations

import textwrap

import pytest

from nomadctl.errors import ManifestError
from nomadctl.manifest import yamlraw
from nomadctl.manifest.schema import Kind, RawRole, parse_workflow
from nomadctl.plan import Addressing, ChannelType, Transport


def parse(text: str) -> RawRole:
    return parse_workflow(yamlraw.parse(textwrap.dedent(text), "workflows/w.yaml"), "workflows/w.yaml")


def child(text: str) -> RawRole:
    body = textwrap.indent(textwrap.dedent(text).strip("\n"), "  ")
    return parse(f"name: w\nroles:\n{body}\n").roles[0]


@pytest.mark.parametrize(
    ("role", "kind"),
    [
        ("- name: a\n  roles: []", Kind.AGGREGATOR),
        ("- name: a\n  task: {load: x}", Kind.TASK),
        ("- name: a\n  call: {func: x.Y()}", Kind.CALL),
        ("- name: a\n  include: sub", Kind.INCLUDE),
        ("- name: a\n  for: {range: '[]', var: it}\n  task: {load: x}", Kind.ITERATOR),
        ("- name: a\n  for: {begin: 1, end: 2, var: i}\n  roles: []", Kind.ITERATOR),
        # null values do not count as present (Go nil pointers)
        ("- name: a\n  task: {load: x}\n  roles:\n  include:", Kind.TASK),
    ],
)
def test_role_kind_is_detected_by_probing_keys(role: str, kind: Kind) -> None:
    assert child(role).kind is kind


@pytest.mark.parametrize(
    "role",
    [
        "- name: a",
        "- name: a\n  task: {load: x}\n  call: {func: y}",
        "- name: a\n  roles: []\n  include: sub",
        "- name: a\n  task:",
    ],
)
def test_ambiguous_or_empty_role_is_invalid_union(role: str) -> None:
    with pytest.raises(ManifestError, match="cannot unmarshal invalid role to union"):
        child(role)


def test_for_wins_and_takes_the_other_key_as_template() -> None:
    role = child("- name: h-{{ it }}\n  for: {range: '{{ hosts }}', var: it}\n  include: sub")
    assert role.template is not None
    assert role.template.kind is Kind.INCLUDE
    assert role.for_ is not None
    assert role.for_.range is not None
    assert role.for_.range.text == "{{ hosts }}"


def test_iterator_without_a_complete_range_is_invalid() -> None:
    with pytest.raises(ManifestError, match="invalid range specifier in iterator"):
        child("- name: a\n  for: {begin: 1, var: i}\n  roles: []")


def test_iterator_needs_a_template_role() -> None:
    with pytest.raises(ManifestError, match="invalid template role in iterator"):
        child("- name: a\n  for: {range: '[]', var: i}")


def test_hook_defaults_timeout_30s_and_await_trigger() -> None:
    role = child("- name: h\n  task: {load: x, trigger: before_CONFIGURE+5}")
    assert role.timeout.text == "30s"
    assert role.await_.text == "before_CONFIGURE+5"
    assert role.critical is True


def test_non_hook_defaults_timeout_0s_and_no_await() -> None:
    role = child("- name: t\n  call: {func: x.Y(), await: after_START_ACTIVITY}")
    assert role.timeout.text == "0s"
    assert role.trigger.text == ""
    assert role.await_.text == ""  # await is only kept for hooks (callrole.go)


def test_hook_timeout_default_is_decided_on_the_raw_trigger() -> None:
    # A templated trigger that may evaluate to "" still gets the 30 s default at load time.
    role = child('- name: h\n  task: {load: x, trigger: "{{ t }}"}')
    assert role.timeout.text == "30s"


@pytest.mark.parametrize(
    ("value", "expected"), [("false", False), ("False", False), ("true", True), ("no", False)]
)
def test_critical_is_a_yaml_bool(value: str, expected: bool) -> None:
    assert child(f"- name: h\n  task: {{load: x, critical: {value}}}").critical is expected


def test_quoted_critical_is_rejected_with_location() -> None:
    with pytest.raises(ManifestError) as info:
        child('- name: h\n  task:\n    load: x\n    critical: "false"')
    assert str(info.value).startswith(
        "workflows/w.yaml:6: w.h: task.critical: cannot unmarshal `false` into bool"
    )


def test_defaults_keep_raw_text_and_public_values() -> None:
    role = parse(
        """
        name: w
        defaults:
          a: false
          b: 0x10
          c: ~
          d:
          e: !public
            value: "x"
            type: string
          f: !public
            type: string
          g:
            value: dropped
          h: [1, 2]
        roles: []
        """
    )
    assert dict((k, v.text) for k, v in role.defaults) == {
        "a": "false",
        "b": "0x10",
        "c": "~",
        "d": "",
        "e": "x",
        "f": "",
    }
    assert any("g: untagged mapping dropped" in w for w in role.warnings)
    assert any("h: untagged sequence dropped" in w for w in role.warnings)


def test_enabled_defaults_to_true_even_when_null() -> None:
    assert child("- name: a\n  enabled:\n  task: {load: x}").enabled.text == "true"


def test_root_public_and_description() -> None:
    role = parse('name: !public w\ndescription: !public "d"\nroles: []\n')
    assert role.public
    assert role.description == "d"
    private = parse('name: w\ndescription: "d"\nroles: []\n')
    assert not private.public
    assert private.description == ""


def test_unknown_keys_warn() -> None:
    role = parse(
        "name: w\nproperties: {a: b}\nroles:\n  - name: t\n    enable: 'false'\n    task: {load: x, crit: true}\n"
    )
    text = "\n".join(role.warnings)
    assert "unknown key 'properties'" in text
    assert "unknown key 'enable'" in text
    assert "unknown key 'crit'" in text


def test_channels_decode_with_aliecs_defaults() -> None:
    role = child(
        """
        - name: t
          bind:
            - name: out
              type: PUSH
              addressing: ipc
              transport: shmem
              sndBufSize: "4"
              global: "alias-{{ it }}"
          connect:
            - name: in
              type: pull
              target: "  path:chan  "
          task: {load: x}
        """
    )
    (out,) = role.bind
    assert (out.type, out.addressing, out.transport, out.snd_buf_size, out.rcv_buf_size) == (
        ChannelType.PUSH,
        Addressing.IPC,
        Transport.SHMEM,
        4,
        1000,
    )
    assert out.rate_logging.text == "0"
    assert out.global_alias.text == "alias-{{ it }}"
    (inp,) = role.connect
    assert inp.target.text == "path:chan"
    assert inp.transport is Transport.DEFAULT


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: a, type: req}", "invalid channel type: req"),
        ("{name: a, type: push, transport: tcp}", "invalid transport type: tcp"),
        ("{name: a, type: push, addressing: udp}", "invalid address format: udp"),
        ("{name: a, type: push, sndBufSize: big}", 'strconv.Atoi: parsing "big": invalid syntax'),
    ],
)
def test_bad_channels_fail_at_load(entry: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        child(f"- name: t\n  bind: [{entry}]\n  task: {{load: x}}")
