"""Var files: YAML mappings of user variables, values kept as raw text (like AliECS vars).

A scalar gives its raw text (``false`` stays ``"false"``, ``010`` stays ``"010"``, an empty value is
``""``). As a convenience a sequence of scalars gives the JSON array of their texts, so
``hosts: [flp001, flp002]`` means ``hosts: '["flp001","flp002"]'``. Nested mappings are errors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import yaml

from nomadctl.errors import ManifestError, UsageError
from nomadctl.manifest import yamlraw


def load_var_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """One var file as ``{name: raw text}``; ``UsageError`` naming the file when it is unusable."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as handle:
            source = handle.read()
    except OSError as err:
        raise UsageError(f"var file {name}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise UsageError(f"var file {name}: not valid UTF-8") from None
    try:
        node = yamlraw.parse(source, name)
        if node is None:
            return {}
        out: dict[str, str] = {}
        for key, _key_node, value in yamlraw.mapping_items(node, name):
            if isinstance(value, yaml.ScalarNode):
                out[key] = "" if value.tag == yamlraw.NULL_TAG and not value.value else str(value.value)
            elif isinstance(value, yaml.SequenceNode):
                items = [yamlraw.text(item, name, f"{key}[{i}]") for i, item in enumerate(value.value)]
                out[key] = json.dumps(items, separators=(",", ":"))
            else:
                raise ManifestError(
                    f"variable '{key}' is a mapping; variables are strings",
                    file=name,
                    line=yamlraw.line_of(value),
                )
        return out
    except ManifestError as err:
        raise UsageError(f"var file {err.one_line()}") from None


def load_var_files(paths: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """Merge var files in order (later files win)."""
    merged: dict[str, str] = {}
    for path in paths:
        merged.update(load_var_file(path))
    return merged
