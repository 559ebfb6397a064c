"""JIT DPL sub-workflows: pre-generated templates, fallbacks and the O2-required error (§3.8)."""

# ruff: noqa: E501  (inline YAML fixtures read best on one line)

from __future__ import annotations

import pytest

from nomadctl.errors import ManifestError
from nomadctl.manifest.jit import short_sha

from .conftest import ECHO_TT, paths, plan_of

JIT_WF = "name: {name}\nroles:\n  - name: dev\n    vars: {{msg: '{{{{ it }}}}'}}\n    task: {{load: echo}}\n"


def wf(include: str) -> dict[str, str]:
    return {
        "w": f'name: w\ndefaults: {{it: h1, det: TST}}\nroles:\n  - name: dpl\n    include: "{include}"\n'
    }


def test_generate_from_uri_uses_the_pregenerated_workflow(make_repo) -> None:
    root = make_repo(
        workflows={**wf("{{ dpl.GenerateFromUri('qc') }}"), "jit-qc": JIT_WF.format(name="jit-qc")},
        tasks={"echo": ECHO_TT},
        jit={"qc": "o2-qc --config x-{{ det }}\n"},
    )
    plan = plan_of(root)
    assert plan.role("w.dpl").include == "jit-qc"
    assert paths(plan) == ["w", "w.dpl", "w.dpl.dev"]


def test_generate_from_uri_without_pregenerated_file_says_o2_is_needed(make_repo) -> None:
    root = make_repo(
        workflows=wf("{{ dpl.GenerateFromUri('qc') }}"), jit={"qc": "o2-qc --config x-{{ det }}\n"}
    )
    with pytest.raises(ManifestError) as info:
        plan_of(root)
    message = str(info.value)
    assert message.startswith(
        "workflows/w.yaml:5: w.dpl: include: dpl.GenerateFromUri: JIT generation needs an O2 installation"
    )
    assert "pre-generate workflows/jit-qc.yaml" in message
    assert "source /etc/profile.d/o2.sh && o2-qc --config x-TST --o2-control jit-qc" in message


def test_generate_from_uri_without_jit_file(make_repo) -> None:
    root = make_repo(workflows=wf("{{ dpl.GenerateFromUri('nope') }}"))
    with pytest.raises(ManifestError, match="failed to read DPL command from 'nope'"):
        plan_of(root)


def test_fallback_to_template_when_no_jit_file(make_repo) -> None:
    root = make_repo(
        workflows={
            **wf("{{ dpl.GenerateFromUriOrFallbackToTemplate('static') }}"),
            "static": JIT_WF.format(name="static"),
        },
        tasks={"echo": ECHO_TT},
    )
    assert plan_of(root).role("w.dpl").include == "static"


def test_fallback_does_not_apply_when_the_jit_file_exists(make_repo) -> None:
    root = make_repo(
        workflows={
            **wf("{{ dpl.GenerateFromUriOrFallbackToTemplate('static') }}"),
            "static": JIT_WF.format(name="static"),
        },
        tasks={"echo": ECHO_TT},
        jit={"static": "o2-x\n"},
    )
    with pytest.raises(ManifestError, match="needs an O2 installation"):
        plan_of(root)


def test_generate_from_a_command_uses_its_short_sha(make_repo) -> None:
    command = "o2-dpl-raw-proxy --det {{ det }} | o2-qc"
    name = f"jit-{short_sha('o2-dpl-raw-proxy --det TST | o2-qc')}"
    root = make_repo(
        workflows={
            **{
                "w": f'name: w\ndefaults: {{it: h1, det: TST}}\nvars: {{cmd: "{command}"}}\nroles:\n  - name: dpl\n    include: "{{{{ dpl.Generate(cmd) }}}}"\n'
            },
            name: JIT_WF.format(name=name),
        },
        tasks={"echo": ECHO_TT},
    )
    assert plan_of(root).role("w.dpl").include == name
    assert len(name) == len("jit-") + 12


def test_dpl_functions_are_not_evaluated_in_disabled_roles(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: dpl\n    enabled: 'false'\n    include: \"{{ dpl.GenerateFromUri('missing') }}\"\n"
            "  - name: t\n    task: {load: echo}\n"
        },
        tasks={"echo": ECHO_TT},
    )
    assert paths(plan_of(root)) == ["w", "w.t"]


def test_jit_files_count_in_the_manifest_sha(make_repo) -> None:
    files = {**wf("{{ dpl.GenerateFromUri('qc') }}"), "jit-qc": JIT_WF.format(name="jit-qc")}
    one = make_repo(workflows=files, tasks={"echo": ECHO_TT}, jit={"qc": "o2-qc a\n"})
    two = make_repo(workflows=files, tasks={"echo": ECHO_TT}, jit={"qc": "o2-qc b\n"})
    assert plan_of(one).manifest_sha != plan_of(two).manifest_sha
