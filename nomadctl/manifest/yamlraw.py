"""YAML with Go ``gopkg.in/yaml.v3`` decoding semantics, as AliECS reads its templates.

AliECS decodes workflow and task templates into Go strings, so every scalar keeps its raw text:
``false`` stays ``"false"``, ``0x10`` stays ``"0x10"``, ``~`` stays ``"~"`` (reference §1.6, §9.1).
PyYAML's constructors would turn those into Python values, so this module works on the composed
node graph instead (libyaml when available, the same parser yaml.v3 was ported from) and offers
typed accessors that reproduce yaml.v3's decode rules and error wording, each error located at
``file:line``.

Nothing here evaluates templates; see ``nomadctl.manifest.engine`` for that.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import yaml

from nomadctl.errors import ManifestError

try:  # libyaml is yaml.v3's ancestor and much faster; fall back to the pure-Python parser
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

NULL_TAG = "tag:yaml.org,2002:null"
STR_TAG = "tag:yaml.org,2002:str"
BOOL_TAG = "tag:yaml.org,2002:bool"
MERGE_TAG = "tag:yaml.org,2002:merge"

# yaml.v3 resolves these plain scalars to booleans (YAML 1.2 core schema) ...
_BOOL_12 = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
# ... and, for a Go bool target only, also accepts these YAML 1.1 spellings in any style.
_BOOL_11 = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "off", "Off", "OFF"), False),
}


@dataclass(frozen=True, slots=True)
class Doc:
    """A parsed file: its repo-relative name, for locating errors."""

    file: str


def _kind_name(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "!!map"
    if isinstance(node, yaml.SequenceNode):
        return "!!seq"
    return "!!str"


def line_of(node: yaml.Node) -> int:
    """The 1-based line where ``node`` starts."""
    return int(node.start_mark.line) + 1


def parse(text: str, file: str) -> yaml.Node | None:
    """Compose the first YAML document of ``text`` (yaml.v3 ``Unmarshal`` reads only the first).

    Returns ``None`` for an empty document. Syntax errors become one-line ``ManifestError``s.
    """
    loader = _Loader(text)
    try:
        node = _first_node(loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        problem = err.problem or err.context or "invalid YAML"
        raise ManifestError(f"yaml: {problem}", file=file, line=line) from None
    except yaml.YAMLError as err:
        raise ManifestError(f"yaml: {err}", file=file) from None
    finally:
        loader.dispose()
    return node


def _first_node(loader: yaml.SafeLoader) -> yaml.Node | None:
    # Only the first document is composed; later documents are never parsed, as in Go.
    if not loader.check_node():
        return None
    node: yaml.Node | None = loader.get_node()
    return node


def is_null(node: yaml.Node | None) -> bool:
    """True for an absent value, an empty value and plain ``~``/``null`` (yaml.v3 null)."""
    if node is None:
        return True
    return isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG


def is_plain(node: yaml.ScalarNode) -> bool:
    return not node.style


def mapping_items(node: yaml.Node, file: str) -> Iterator[tuple[str, yaml.ScalarNode, yaml.Node]]:
    """``(key text, key node, value node)`` of a mapping, with yaml.v3's duplicate-key check and
    ``<<`` merge keys applied (explicit keys win over merged ones)."""
    if not isinstance(node, yaml.MappingNode):
        raise ManifestError(
            f"cannot unmarshal {_kind_name(node)} into a mapping", file=file, line=line_of(node)
        )
    seen: dict[str, int] = {}
    merged: list[tuple[str, yaml.ScalarNode, yaml.Node]] = []
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag == MERGE_TAG:
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for src in sources:
                merged.extend(mapping_items(src, file))
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            raise ManifestError(
                f"cannot unmarshal {_kind_name(key_node)} into a string key",
                file=file,
                line=line_of(key_node),
            )
        key = key_node.value
        if key in seen:
            raise ManifestError(
                f'mapping key "{key}" already defined at line {seen[key]}', file=file, line=line_of(key_node)
            )
        seen[key] = line_of(key_node)
        yield key, key_node, value_node
    for key, key_node, value_node in merged:
        if key not in seen:
            seen[key] = line_of(key_node)
            yield key, key_node, value_node


def mapping(node: yaml.Node, file: str) -> dict[str, yaml.Node]:
    """A mapping node as ``{key: value node}`` (see ``mapping_items``)."""
    return {key: value for key, _, value in mapping_items(node, file)}


def sequence(node: yaml.Node | None, file: str, what: str) -> list[yaml.Node]:
    """A sequence node's items; null gives ``[]`` (a nil Go slice)."""
    if is_null(node):
        return []
    assert node is not None
    if not isinstance(node, yaml.SequenceNode):
        raise ManifestError(
            f"cannot unmarshal {_kind_name(node)} into a list", file=file, line=line_of(node), field=what
        )
    return list(node.value)


def text(node: yaml.Node | None, file: str, what: str, default: str = "") -> str:
    """A scalar decoded into a Go ``string``: its raw text; null leaves ``default`` untouched."""
    if node is None:
        return default
    if isinstance(node, yaml.ScalarNode):
        if node.tag == NULL_TAG:
            return default
        return str(node.value)
    raise ManifestError(
        f"cannot unmarshal {_kind_name(node)} into string", file=file, line=line_of(node), field=what
    )


def optional_text(node: yaml.Node | None, file: str, what: str) -> str | None:
    """A scalar decoded into a Go ``*string``: ``None`` when absent or null."""
    if is_null(node):
        return None
    return text(node, file, what)


def go_bool(node: yaml.Node | None, file: str, what: str) -> bool | None:
    """A scalar decoded into a Go ``*bool`` by yaml.v3; ``None`` when absent or null.

    Plain ``true``/``false`` (three spellings each) are booleans; for a bool target yaml.v3 also
    accepts ``y/yes/on/n/no/off`` in any style. A quoted ``"true"`` or a ``{{ }}`` expression is
    a decode error (reference §3.4).
    """
    if is_null(node):
        return None
    assert node is not None
    if not isinstance(node, yaml.ScalarNode):
        raise ManifestError(
            f"cannot unmarshal {_kind_name(node)} into bool", file=file, line=line_of(node), field=what
        )
    value = str(node.value)
    if (is_plain(node) or node.tag == BOOL_TAG) and value in _BOOL_12:
        return _BOOL_12[value]
    if value in _BOOL_11:
        return _BOOL_11[value]
    raise ManifestError(
        f"cannot unmarshal `{value}` into bool (critical is a YAML bool: write true or false without quotes)",
        file=file,
        line=line_of(node),
        field=what,
    )


def text_list(node: yaml.Node | None, file: str, what: str) -> list[tuple[str, int]]:
    """A Go ``[]string``: ``(raw text, line)`` per item; null items give ``""``."""
    out: list[tuple[str, int]] = []
    for i, item in enumerate(sequence(node, file, what)):
        out.append((text(item, file, f"{what}[{i}]"), line_of(item)))
    return out
