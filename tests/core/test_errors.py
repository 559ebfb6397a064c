from nomadctl.errors import ExpressionError, ManifestError, PlanError


def test_manifest_error_formats_file_line_path_field_message() -> None:
    err = ManifestError("unknown name foo", file="workflows/x.yaml", line=12, role_path="x.a", field="vars.b")
    assert str(err) == "workflows/x.yaml:12: x.a: vars.b: unknown name foo"
    assert err.exit_code == 2


def test_manifest_error_leaves_out_unknown_parts() -> None:
    assert str(ManifestError("boom", field="enabled")) == "enabled: boom"


def test_locate_fills_only_missing_parts() -> None:
    err = ManifestError("boom", field="vars.a")
    err.locate(file="w.yaml", line=3, role_path="root.x", field="ignored")
    err.locate(file="other.yaml", line=9, role_path="root")
    assert (err.file, err.line, err.role_path, err.field) == ("w.yaml", 3, "root.x", "vars.a")


def test_one_line_flattens_newlines() -> None:
    err = ManifestError("bad\nthing", file="f.yaml")
    assert err.one_line() == "f.yaml: bad thing"


def test_expression_error_caret_points_at_column() -> None:
    err = ExpressionError("unknown name foo", expression="a == foo", column=5)
    expr_line, caret_line = err.details()
    assert expr_line == "    {{ a == foo }}"
    assert caret_line.index("^") == expr_line.index("foo")


def test_plan_error_joins_path_and_field() -> None:
    assert str(PlanError("too long", role_path="r.x", field="service")) == "r.x: service: too long"
