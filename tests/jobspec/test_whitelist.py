"""Every key we can emit is a field of Nomad's Go structs (its JSON decoder drops unknown keys).

The whitelist ``data/nomad_api_keys.json`` is produced by ``scripts/extract_nomad_keys.py`` from
hashicorp/nomad at the commit it records; re-generate it when moving the Nomad floor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, ClassVar

import pytest
from pydantic import Field

from nomadctl.jobspec import RenderOptions, Split, build_jobs
from nomadctl.jobspec.model import MODELS, Hcl, Job, NomadObject, TaskGroup, hcl_of
from nomadctl.jobspec.versions import NomadVersion
from tests.jobspec.planbuilder import flp_epn_plan, kitchen_sink_plan

KEYS = json.loads((Path(__file__).parent / "data" / "nomad_api_keys.json").read_text())
STRUCTS: dict[str, dict[str, dict[str, str]]] = KEYS["structs"]

# Where our HCL deliberately differs from the Go `hcl:` tag, and why.
HCL_EXCEPTIONS = {
    # jobspec2 takes ID (and Name) from the `job "<id>"` label
    ("Job", "ID"): ("id", "label"),
    # jobspec2 normalizeNetworkPorts: `port "x" { static = N }` becomes a ReservedPort
    ("NetworkResource", "ReservedPorts"): ("port", "ports"),
}
_KIND = {"attr": "attr", "optional": "attr", "label": "label", "block": "block"}


def problems(model: type[NomadObject]) -> list[str]:
    """Fields of ``model`` whose JSON key or HCL name is not the Go struct's."""
    go = STRUCTS.get(model.GO_STRUCT)
    if go is None:
        return [f"{model.__name__}: no Go struct {model.GO_STRUCT!r} in the whitelist"]
    out = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        marker = hcl_of(model, name)
        if key not in go:
            out.append(f"{model.__name__}.{name}: JSON key {key!r} is not a field of {model.GO_STRUCT}")
            continue
        entry = go[key]
        exception = HCL_EXCEPTIONS.get((model.GO_STRUCT, key))
        if exception is not None:
            if (marker.name, marker.kind) != exception:
                out.append(f"{model.__name__}.{name}: HCL {marker} differs from the documented exception")
            continue
        go_kind = _KIND[entry.get("hcl_kind", "attr")]
        ours = {"map": "block", "ports": "block"}.get(marker.kind, marker.kind)
        if go_kind != ours:
            out.append(f"{model.__name__}.{name}: HCL kind {marker.kind} but Go says {entry.get('hcl_kind')}")
        if go_kind != "label" and marker.name != entry.get("hcl"):
            out.append(f"{model.__name__}.{name}: HCL name {marker.name!r} but Go says {entry.get('hcl')!r}")
    return out


def test_whitelist_records_its_source():
    src = KEYS["source"]
    assert src["repo"] == "hashicorp/nomad"
    assert src["commit"].startswith("aa026cc99c")
    assert "api/tasks.go" in src["files"]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_model_keys_and_hcl_names_are_nomads(model):
    assert problems(model) == []


def test_checker_catches_a_wrong_key():
    class BadJob(NomadObject):
        GO_STRUCT: ClassVar[str] = "Job"
        # the trap: ReschedulePolicy is the *group* key; Nomad would silently drop it here
        reschedule: Any = Field(None, alias="ReschedulePolicy")

    class BadHcl(NomadObject):
        GO_STRUCT: ClassVar[str] = "LogConfig"
        max_files: Annotated[int, Hcl("max-files")] = Field(alias="MaxFiles")

    BadJob.model_fields["reschedule"].metadata.append(hcl_of(Job, "reschedule"))
    assert any("ReschedulePolicy" in p for p in problems(BadJob))
    assert any("max-files" in p for p in problems(BadHcl))


def test_reschedule_trap():
    assert Job.model_fields["reschedule"].alias == "Reschedule"
    assert TaskGroup.model_fields["reschedule_policy"].alias == "ReschedulePolicy"
    assert "Reschedule" not in STRUCTS["TaskGroup"]
    assert "ReschedulePolicy" not in STRUCTS["Job"]


def _walk(cls: type[NomadObject], data: Any, where: str, out: list[str]) -> None:
    go = STRUCTS[cls.GO_STRUCT]
    fields = {(info.alias or n): n for n, info in cls.model_fields.items()}
    for key, value in data.items():
        if key not in go:
            out.append(f"{where}.{key}")
            continue
        name = fields.get(key)
        if name is None:
            out.append(f"{where}.{key} (not in the model)")
            continue
        marker = hcl_of(cls, name)
        if marker.kind in ("map",):
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()), where
            continue
        if marker.kind in ("block", "ports"):
            item_cls = _model_of(cls, name)
            for i, item in enumerate(value if isinstance(value, list) else [value]):
                _walk(item_cls, item, f"{where}.{key}[{i}]", out)


def _model_of(cls: type[NomadObject], name: str) -> type[NomadObject]:
    ann = cls.model_fields[name].annotation
    stack = [ann]
    while stack:
        a = stack.pop()
        if isinstance(a, type) and issubclass(a, NomadObject):
            return a
        stack.extend(getattr(a, "__args__", ()))
    raise TypeError(name)


@pytest.mark.parametrize("version", ["1.6", "1.10", "2.0", "2.0.5"])
@pytest.mark.parametrize("split", list(Split))
def test_every_emitted_key_is_whitelisted(version, split):
    opts = RenderOptions(nomad_version=NomadVersion.parse(version), split=split)
    seen: set[str] = set()
    for plan in (flp_epn_plan(3), kitchen_sink_plan()):
        jobs = build_jobs(plan, opts)
        for job in jobs.jobs:
            payload = job.payload()
            assert set(payload) == {"Job"}
            bad: list[str] = []
            _walk(Job, payload["Job"], "Job", bad)
            assert bad == []
            seen.update(_keys(payload))
    # the walk covered the interesting parts of the model
    assert {"ReschedulePolicy", "Networks", "Services", "Templates", "Devices", "ParameterizedJob"} <= seen


def _keys(data: Any) -> set[str]:
    if isinstance(data, dict):
        out = set(data)
        for v in data.values():
            out |= _keys(v)
        return out
    if isinstance(data, list):
        return set().union(*(_keys(v) for v in data)) if data else set()
    return set()
