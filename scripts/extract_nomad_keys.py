#!/usr/bin/env python3
"""Extract the API-JSON keys and HCL names of Nomad's job structs from a Nomad checkout.

    scripts/extract_nomad_keys.py /path/to/nomad [--commit REV] > tests/jobspec/data/nomad_api_keys.json

Reads ``api/{jobs,tasks,resources,services,constraint,consul}.go`` (Go structs of the job API) and
``drivers/rawexec/driver.go`` (raw_exec task config) at ``REV`` (``git show``, default HEAD), so a
bare mirror works too. For every struct it lists each field's JSON key (the Go field name, or the
name of its ``json:"..."`` tag) and its ``hcl:"..."`` name. The output is checked in; the key
whitelist test compares our model against it. Re-run it when moving the Nomad floor.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

API_FILES = (
    "api/jobs.go",
    "api/tasks.go",
    "api/resources.go",
    "api/services.go",
    "api/constraint.go",
    "api/consul.go",
)
RAW_EXEC = "drivers/rawexec/driver.go"
_STRUCT = re.compile(r"^type (\w+) struct \{\s*$")
_FIELD = re.compile(r"^\s+([A-Z]\w*)\s+([^`/]+?)\s*(`[^`]*`)?\s*(//.*)?$")
_TAG = re.compile(r'(\w+):"([^"]*)"')
_RAW_ATTR = re.compile(r'hclspec\.NewAttr\("(\w+)"')


def show(repo: str, rev: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, "show", f"{rev}:{path}"], check=True, capture_output=True, text=True
    ).stdout


def structs(source: str) -> dict[str, dict[str, dict[str, str]]]:
    out: dict[str, dict[str, dict[str, str]]] = {}
    current: str | None = None
    for line in source.splitlines():
        if current is None:
            m = _STRUCT.match(line)
            if m:
                current = m.group(1)
                out[current] = {}
            continue
        if line.startswith("}"):
            current = None
            continue
        m = _FIELD.match(line)
        if not m:
            continue
        name, _type, tag = m.group(1), m.group(2), m.group(3) or ""
        tags = dict(_TAG.findall(tag))
        json_name = tags.get("json", "").split(",")[0] or name
        if json_name == "-":
            continue
        entry = {"go": name}
        hcl = tags.get("hcl")
        if hcl is not None:
            hcl_name, _, hcl_kind = hcl.partition(",")
            entry["hcl"] = hcl_name
            entry["hcl_kind"] = hcl_kind or "attr"
        out[current][json_name] = entry
    return out


def raw_exec_keys(source: str) -> dict[str, dict[str, str]]:
    start = source.index("taskConfigSpec = hclspec.NewObject(")
    end = source.index("})", start)
    return {k: {"go": k, "hcl": k, "hcl_kind": "attr"} for k in _RAW_ATTR.findall(source[start:end])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo", help="a hashicorp/nomad git checkout or mirror")
    ap.add_argument("--commit", default="HEAD")
    args = ap.parse_args()
    commit = subprocess.run(
        ["git", "-C", args.repo, "rev-parse", args.commit], check=True, capture_output=True, text=True
    ).stdout.strip()
    result: dict[str, object] = {
        "source": {"repo": "hashicorp/nomad", "commit": commit, "files": [*API_FILES, RAW_EXEC]},
    }
    found: dict[str, dict[str, dict[str, str]]] = {}
    for path in API_FILES:
        found.update(structs(show(args.repo, commit, path)))
    found["rawexec.TaskConfig"] = raw_exec_keys(show(args.repo, commit, RAW_EXEC))
    result["structs"] = dict(sorted(found.items()))
    json.dump(result, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
