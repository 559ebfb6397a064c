"""Config-repo resolution, manifest fingerprint and var files."""

from __future__ import annotations

from pathlib import Path

import pytest

from nomadctl.errors import ManifestError, UsageError
from nomadctl.manifest import load_var_files
from nomadctl.manifest.repo import ConfigRepo


def test_resolve_plain_and_revision(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = ConfigRepo(make_repo(workflows={"a": "name: a\n"}))
    assert repo.resolve("qc-daq", "workflows") == "qc-daq"
    assert repo.resolve("qc-daq@v1.2", "workflows") == "qc-daq"
    assert any("revision ignored" in w for w in repo.warnings)


def test_resolve_slash_form_must_name_this_repo(make_repo) -> None:  # type: ignore[no-untyped-def]
    root = make_repo(workflows={"a": "name: a\n"})
    repo = ConfigRepo(root)
    assert repo.resolve(f"github.com/x/{root.name}/tasks/readout", "tasks") == "readout"
    with pytest.raises(ManifestError, match="refers to another repository"):
        repo.resolve("github.com/AliceO2Group/Other/tasks/readout", "tasks")


@pytest.mark.parametrize("ref", ["../etc/passwd", ".hidden", "a b", "", "x/../../y"])
def test_names_never_escape_the_repo(make_repo, ref: str) -> None:  # type: ignore[no-untyped-def]
    repo = ConfigRepo(make_repo(workflows={"a": "name: a\n"}))
    with pytest.raises(ManifestError):
        repo.resolve(ref, "workflows")


def test_manifest_sha_covers_exactly_the_files_read(make_repo) -> None:  # type: ignore[no-untyped-def]
    root = make_repo(workflows={"a": "name: a\n", "b": "name: b\n"})
    one, two = ConfigRepo(root), ConfigRepo(root)
    one.parse("workflows/a.yaml")
    two.parse("workflows/a.yaml")
    assert one.manifest_sha() == two.manifest_sha()
    two.parse("workflows/b.yaml")
    assert one.manifest_sha() != two.manifest_sha()
    (root / "workflows" / "a.yaml").write_text("name: a\n# changed\n")
    three = ConfigRepo(root)
    three.parse("workflows/a.yaml")
    assert three.manifest_sha() != one.manifest_sha()
    assert one.files_read == ["workflows/a.yaml"]


def test_repo_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        ConfigRepo(tmp_path / "missing")


def test_var_files_keep_raw_text_and_later_files_win(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("x: false\ny: 010\nhosts: [flp001, flp002]\nempty:\n")
    b.write_text("y: override\n")
    assert load_var_files([a, b]) == {
        "x": "false",
        "y": "override",
        "hosts": '["flp001","flp002"]',
        "empty": "",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [("a: {b: c}\n", "is a mapping"), ("- a\n", "cannot unmarshal"), ("a: [\n", "yaml:")],
)
def test_bad_var_files_are_usage_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message) as info:
        load_var_files([path])
    assert str(path) in str(info.value)


def test_missing_var_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"var file .*missing\.yaml"):
        load_var_files([tmp_path / "missing.yaml"])
