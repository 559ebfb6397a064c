"""HCL2 rendering: parse-back with python-hcl2, escaping, and `nomad fmt` layout."""

from __future__ import annotations

import json
import re

import pytest

from nomadctl.jobspec import RenderOptions, Split, build_jobs, to_api_json, to_hcl
from nomadctl.jobspec.hcl import duration_text, quote
from nomadctl.jobspec.versions import NomadVersion
from tests.jobspec.hclback import parse_job, unescape
from tests.jobspec.planbuilder import PlanBuilder, flp_epn_plan, kitchen_sink_plan


def _all_jobs():
    # old and new agents; one big multi-group job and the per-group split
    for version, split in (
        ("1.6", Split.NONE),
        ("2.0.5", Split.NONE),
        ("2.0", Split.HOST),
        ("2.0", Split.STAGE),
    ):
        opts = RenderOptions(nomad_version=NomadVersion.parse(version), split=split)
        for plan in (flp_epn_plan(2), kitchen_sink_plan()):
            yield from build_jobs(plan, opts).jobs


def test_parse_back_equals_api_json():
    count = 0
    for job in _all_jobs():
        assert parse_job(to_hcl(job)) == job.payload(), job.id
        count += 1
    assert count > 15


def test_parse_back_detects_a_difference():
    job = next(iter(_all_jobs()))
    text = re.sub(r'driver( +)= "raw_exec"', r'driver\1= "exec"', to_hcl(job), count=1)
    assert parse_job(text) != job.payload()


@pytest.mark.parametrize(
    ("raw", "hcl"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a\\b", '"a\\\\b"'),
        ("l1\nl2\t", '"l1\\nl2\\t"'),
        ("${NOMAD_PORT_occ}", '"$${NOMAD_PORT_occ}"'),
        ("%{ if x }", '"%%{ if x }"'),
        ("$HOME and $$", '"$HOME and $$"'),
        ("bell\x07", '"bell\\u0007"'),
    ],
)
def test_quote(raw, hcl):
    assert quote(raw) == hcl
    assert unescape(hcl[1:-1]) == raw


def test_awkward_strings_round_trip():
    nasty = "echo \"${HOME}\" '%{x}' \\n $(( 1 + 1 )) ` \t {{ .Data }}"
    b = PlanBuilder("wEird1")
    b.task(
        "t", host="h1", value=nasty, shell=True, args=("'$${x}'",), env=('Q=a"b\\c', "P=${node.unique.name}")
    )
    for job in build_jobs(b.build()).jobs:
        back = parse_job(to_hcl(job))
        assert back == job.payload()
        args = back["Job"]["TaskGroups"][0]["Tasks"][0]["Config"]["args"]
        assert args == ["-c", nasty + " '$${x}'"]


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (15 * 10**9, "15s"),
        (90 * 10**9, "1m30s"),
        (30 * 60 * 10**9, "30m"),
        (24 * 3600 * 10**9, "24h"),
        (3605 * 10**9, "1h5s"),
        (1_500_000, "1500us"),
    ],
)
def test_duration_text(ns, text):
    assert duration_text(ns) == text


def test_fmt_layout():
    for job in _all_jobs():
        text = to_hcl(job)
        assert text.endswith("}\n")
        assert not text.endswith("\n\n")
        lines = text.split("\n")
        run: list[int] = []
        for line in [*lines, ""]:
            assert "\t" not in line, repr(line)
            assert line == line.rstrip(), repr(line)
            indent = len(line) - len(line.lstrip(" "))
            assert indent % 2 == 0, repr(line)
            m = re.match(r"^( *)([A-Za-z_][A-Za-z0-9_]*) +=", line)
            # a run of one-line attributes aligns its `=` (nomad fmt)
            if m and not line.rstrip().endswith("{"):
                run.append(line.index("="))
            else:
                assert len(set(run)) <= 1, f"{job.id}: misaligned `=` before {line!r}"
                run = []
            # HCL2: a one-line block may hold at most one argument; we write none
            assert not re.match(r'^ *[a-z_]+( "[^"]*")? \{ *\S.*\}$', line), line
        assert text.count("{") - text.count("{}") >= 1


def test_api_json_is_plain_json_of_the_payload():
    b = PlanBuilder("uNicode1")
    b.task("t", host="h", value="echo 'é ü \u2028 \x07 \x7f \"q\" \\\\'", shell=True)
    for plan in (b.build(), kitchen_sink_plan()):
        for job in build_jobs(plan).jobs:
            text = to_api_json(job)
            assert text == json.dumps(job.payload(), indent=2, ensure_ascii=False) + "\n"
            assert json.loads(text) == job.payload()
