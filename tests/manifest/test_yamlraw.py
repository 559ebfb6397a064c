"""yaml.v3 decoding semantics: raw scalar text, nulls, bools, duplicate keys, syntax errors."""

from __future__ import annotations

import pytest

from nomadctl.errors import ManifestError
from nomadctl.manifest import yamlraw


def scalars(text: str) -> dict[str, str]:
    node = yamlraw.parse(text, "f.yaml")
    assert node is not None
    return {k: yamlraw.text(v, "f.yaml", k) for k, v in yamlraw.mapping(node, "f.yaml").items()}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a: false", "false"),
        ("a: False", "False"),
        ("a: yes", "yes"),
        ("a: 0x1F", "0x1F"),
        ("a: 010", "010"),
        ("a: 1_000", "1_000"),
        ("a: 12:30", "12:30"),
        ("a: 33554432", "33554432"),
        ("a: 1.50", "1.50"),
        ("a: -1", "-1"),
        ('a: "quoted # not a comment"', "quoted # not a comment"),
        ("a: plain # a comment", "plain"),
        ("a: >-\n  folded\n  text\n", "folded text"),
        ("a: |\n  keep\n  lines\n", "keep\nlines\n"),
        ("a : spaced-key", "spaced-key"),
    ],
)
def test_scalars_keep_their_raw_text(source: str, expected: str) -> None:
    assert scalars(source)["a"] == expected


def test_null_leaves_a_go_string_untouched() -> None:
    node = yamlraw.parse("a: ~\nb:\nc: null\nd: '~'\n", "f.yaml")
    m = yamlraw.mapping(node, "f.yaml")
    assert yamlraw.text(m["a"], "f", "a", "dflt") == "dflt"
    assert yamlraw.text(m["b"], "f", "b", "dflt") == "dflt"
    assert yamlraw.text(m["c"], "f", "c", "dflt") == "dflt"
    assert yamlraw.text(m["d"], "f", "d", "dflt") == "~"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("False", False),
        ("FALSE", False),
        ("yes", True),
        ("'yes'", True),
        ("on", True),
        ("n", False),
        ("off", False),
        ("NO", False),
        ("~", None),
        ("", None),
    ],
)
def test_go_bool_accepts_what_yaml_v3_accepts(source: str, expected: bool | None) -> None:
    m = yamlraw.mapping(yamlraw.parse(f"c: {source}\n", "f.yaml"), "f.yaml")
    assert yamlraw.go_bool(m["c"], "f.yaml", "critical") is expected


@pytest.mark.parametrize("source", ['"true"', "'false'", '"{{ x }}"', "maybe", "1", "[true]"])
def test_go_bool_rejects_quoted_true_and_expressions(source: str) -> None:
    m = yamlraw.mapping(yamlraw.parse(f"c: {source}\n", "f.yaml"), "f.yaml")
    with pytest.raises(ManifestError) as info:
        yamlraw.go_bool(m["c"], "f.yaml", "task.critical")
    assert info.value.line == 1
    assert "into bool" in str(info.value)


def test_duplicate_keys_are_an_error_with_both_lines() -> None:
    with pytest.raises(ManifestError, match=r'f.yaml:3: mapping key "a" already defined at line 1'):
        yamlraw.mapping(yamlraw.parse("a: 1\nb: 2\na: 3\n", "f.yaml"), "f.yaml")


def test_merge_keys_apply_and_explicit_keys_win() -> None:
    node = yamlraw.parse("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n", "f.yaml")
    m = yamlraw.mapping(yamlraw.mapping(node, "f.yaml")["m"], "f.yaml")
    assert {k: v.value for k, v in m.items()} == {"y": "3", "x": "1"}


def test_only_the_first_document_is_read() -> None:
    node = yamlraw.parse("a: 1\n---\nb: [broken\n", "f.yaml")
    assert set(yamlraw.mapping(node, "f.yaml")) == {"a"}


def test_empty_document_is_none() -> None:
    assert yamlraw.parse("# only a comment\n", "f.yaml") is None


def test_syntax_error_is_one_line_with_file_and_line() -> None:
    with pytest.raises(ManifestError) as info:
        yamlraw.parse("a: 1\nb: c: d\n", "workflows/x.yaml")
    assert str(info.value).startswith("workflows/x.yaml:2: yaml: ")
    assert "\n" not in info.value.one_line()


def test_text_of_a_mapping_is_a_decode_error() -> None:
    m = yamlraw.mapping(yamlraw.parse("a: {b: c}\n", "f.yaml"), "f.yaml")
    with pytest.raises(ManifestError, match="cannot unmarshal !!map into string"):
        yamlraw.text(m["a"], "f.yaml", "a")


def test_line_numbers_are_one_based() -> None:
    m = yamlraw.mapping(yamlraw.parse("\n\na: 1\n", "f.yaml"), "f.yaml")
    assert yamlraw.line_of(m["a"]) == 3
