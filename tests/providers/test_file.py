"""FileKVProvider: the Consul KV layout from one YAML/JSON file, values kept as raw text."""

from __future__ import annotations

import json

import pytest

from nomadctl.errors import UsageError
from nomadctl.manifest.expr import KVStore
from nomadctl.providers.base import KVProvider
from nomadctl.providers.file import FileKVProvider

YAML = """\
o2/runtime/aliecs/defaults/flag: false
o2/runtime/aliecs/defaults/octal: 010
o2/runtime/aliecs/defaults/tilde: ~
o2/runtime/aliecs/defaults/empty:
o2/runtime/aliecs/defaults/yes: yes
o2:
  runtime:
    aliecs:
      vars:
        number: 1_000
        time: 12:30
        text: "quoted"
  hardware:
    detectors:
      TPC:
        flps:
          alio2-cr1-flp001: {}
    flps/alio2-cr1-flp001/cards: '{"0": {"serial": "1041"}}'
"""


@pytest.fixture
def yaml_file(tmp_path):
    path = tmp_path / "kv.yaml"
    path.write_text(YAML)
    return path


def test_scalars_stay_raw_text(yaml_file):
    kv = FileKVProvider.from_file(yaml_file)
    assert kv.get("o2/runtime/aliecs/defaults/flag") == "false"
    assert kv.get("o2/runtime/aliecs/defaults/octal") == "010"
    assert kv.get("o2/runtime/aliecs/defaults/tilde") == "~"
    assert kv.get("o2/runtime/aliecs/defaults/empty") == ""
    assert kv.get("o2/runtime/aliecs/defaults/yes") == "yes"
    assert kv.get("o2/runtime/aliecs/vars/number") == "1_000"
    assert kv.get("o2/runtime/aliecs/vars/time") == "12:30"
    assert kv.get("o2/runtime/aliecs/vars/text") == "quoted"
    assert kv.get("o2/nothing") is None


def test_flat_and_nested_keys_and_folder_keys(yaml_file):
    kv = FileKVProvider.from_file(yaml_file)
    assert kv.get("o2/hardware/flps/alio2-cr1-flp001/cards") == '{"0": {"serial": "1041"}}'
    # an empty mapping is a Consul folder key, which is how AliECS's inventory lists hosts
    assert kv.get("o2/hardware/detectors/TPC/flps/alio2-cr1-flp001/") == ""
    assert kv.keys("o2/runtime/aliecs/vars/") == [
        "o2/runtime/aliecs/vars/number",
        "o2/runtime/aliecs/vars/text",
        "o2/runtime/aliecs/vars/time",
    ]
    assert kv.keys("o2/zzz") == []


def test_keys_are_sorted_and_recursive():
    kv = FileKVProvider({"a/b/c": "1", "a/a": "2", "a": {"z": "3"}, "b": "4"})
    assert kv.keys("a/") == ["a/a", "a/b/c", "a/z"]
    assert kv.keys("") == ["a/a", "a/b/c", "a/z", "b"]


def test_put_writes_an_overlay_never_the_file(yaml_file):
    before = yaml_file.read_text()
    kv = FileKVProvider.from_file(yaml_file)
    kv.put("o2/runtime/aliecs/new", "v")
    kv.put("o2/runtime/aliecs/defaults/flag", "true")
    assert kv.get("o2/runtime/aliecs/new") == "v"
    assert kv.get("o2/runtime/aliecs/defaults/flag") == "true"
    assert "o2/runtime/aliecs/new" in kv.keys("o2/runtime/aliecs/")
    assert yaml_file.read_text() == before
    assert FileKVProvider.from_file(yaml_file).get("o2/runtime/aliecs/new") is None


def test_json_file(tmp_path):
    path = tmp_path / "kv.json"
    path.write_text(json.dumps({"o2": {"runtime": {"x": "1", "flag": False, "n": 10, "f": 1.5, "z": None}}}))
    kv = FileKVProvider.from_file(path)
    assert kv.get("o2/runtime/x") == "1"
    assert kv.get("o2/runtime/flag") == "false"
    assert kv.get("o2/runtime/n") == "10"
    assert kv.get("o2/runtime/f") == "1.5"
    assert kv.get("o2/runtime/z") == ""


def test_non_scalar_leaf_is_an_error_naming_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("o2:\n  runtime:\n    list: [1, 2]\n")
    with pytest.raises(UsageError, match=r"bad\.yaml: key o2/runtime/list: a list is not a KV value"):
        FileKVProvider.from_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match=r"nope\.yaml: KV file not found"):
        FileKVProvider.from_file(tmp_path / "nope.yaml")


def test_bad_yaml_is_a_one_line_usage_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("a: [unclosed\n")
    with pytest.raises(UsageError) as err:
        FileKVProvider.from_file(path)
    assert "broken.yaml: not valid YAML" in err.value.one_line()
    assert "\n" not in err.value.one_line()


def test_bad_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{")
    with pytest.raises(UsageError, match=r"broken\.json: not valid JSON"):
        FileKVProvider.from_file(path)


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n")
    with pytest.raises(UsageError, match="top level must be a mapping"):
        FileKVProvider.from_file(path)


def test_empty_file_is_an_empty_store(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert FileKVProvider.from_file(path).keys("") == []


def test_yaml_never_builds_objects(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("x: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(UsageError):
        FileKVProvider.from_file(path)


def test_implements_both_protocols():
    kv = FileKVProvider({})
    assert isinstance(kv, KVProvider)
    assert isinstance(kv, KVStore)
