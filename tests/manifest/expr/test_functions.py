"""The AliECS function library (reference §3.2), including its failure strings (§4)."""

from __future__ import annotations

import hashlib

import pytest

from nomadctl.errors import ExpressionError
from nomadctl.manifest.expr import EvalContext, FunctionLibrary, UidGenerator, compile_expression
from nomadctl.providers.base import ProviderError
from nomadctl.providers.file import FileKVProvider
from tests.manifest.expr.conftest import KV_DATA, VARIABLES


@pytest.fixture
def ev(make_ctx):
    def run(text: str, variables=None, **kwargs):
        return compile_expression(text).render(make_ctx(variables, **kwargs))

    return run


# ---------------------------------------------------------------- strings.*


@pytest.mark.parametrize(
    ("call", "result"),
    [
        ("strings.Atoi('42')", "42"),
        ("strings.Atoi('-7')", "-7"),
        ("strings.Atoi('+7')", "7"),
        ("strings.Atoi('x')", "0"),
        ("strings.Atoi(' 1')", "0"),
        ("strings.Atoi('1_000')", "0"),
        ("strings.Atoi('99999999999999999999')", "9223372036854775807"),  # Go clamps and errors
        ("strings.Itoa(42)", "42"),
        ('strings.TrimQuotes(\'"a"b"\')', 'a"b'),
        ("strings.TrimQuotes(\"'a'\")", "'a'"),  # only double quotes
        ("strings.TrimSpace(' \\t a b \\n')", "a b"),
        ("strings.ToUpper('readout')", "READOUT"),
        ("strings.ToLower('TPC')", "tpc"),
        ("strings.IsTruthy(' Yes ')", "true"),
        ("strings.IsTruthy('ok')", "true"),
        ("strings.IsTruthy('2')", "false"),
        ("strings.IsFalsy('')", "true"),
        ("strings.IsFalsy('  ')", "true"),
        ("strings.IsFalsy('None')", "true"),
        ("strings.IsFalsy('OFF')", "true"),
        ("strings.IsFalsy('n')", "true"),
        ('strings.IsFalsy(\'{"error":"x"}\')', "false"),
        ("strings.IsFalsy('true')", "false"),
    ],
)
def test_strings_functions(ev, call, result):
    assert ev(call) == result


# ---------------------------------------------------------------- json.*


@pytest.mark.parametrize(
    ("call", "result"),
    [
        ('json.Unmarshal(\'["b","a"]\')', '["b","a"]'),
        ("json.Unmarshal('{\"k\": 1}')", "map[k:1]"),
        ("json.Unmarshal('3')", "3"),
        ("json.Unmarshal('not json')", "<nil>"),
        ("json.Deserialize('[1]')", "[1]"),
        ("json.Marshal({b: 1, a: '<x>'})", '{"a":"\\u003cx\\u003e","b":1}'),
        ("json.Serialize(['a'])", '["a"]'),
        ("json.Marshal(0/0)", ""),  # Go logs the encoder error and returns ""
        ('json.Sort(json.Unmarshal(\'["b",1,"a"]\'))', '["1","a","b"]'),
        ("json.Sort('not a list')", "not a list"),
        ("json.Marshal(json.Sort(json.Unmarshal(detectors)))", '["ITS","TPC"]'),
        ("FromJson('[1]')", "[1]"),
        ("ToJson([1])", "[1]"),
    ],
)
def test_json_functions(ev, call, result):
    assert ev(call) == result


def test_unmarshalled_numbers_are_float64(make_ctx):
    assert compile_expression("json.Unmarshal('[1, 2]')").evaluate(make_ctx()) == [1.0, 2.0]


# ---------------------------------------------------------------- uid.*


def test_uid_new_is_seeded(make_ctx, kv):
    ids = [compile_expression("uid.New()").render(make_ctx()) for _ in range(3)]
    assert len(set(ids)) == 3
    fresh = FunctionLibrary(kv, UidGenerator(seed=7))
    assert [compile_expression("NewID()").render(make_ctx(lib=fresh)) for _ in range(3)] == ids


# ---------------------------------------------------------------- util.*


@pytest.mark.parametrize(
    ("variables", "result"),
    [
        ({"dpl_workflow": "generic", "tpc_dpl_workflow": "tpc-special"}, "tpc-special"),
        ({"dpl_workflow": "generic", "tpc_dpl_workflow": "none"}, "generic"),
        ({"dpl_workflow": "generic", "tpc_dpl_workflow": "  "}, "generic"),
        ({"dpl_workflow": "generic"}, "generic"),
        ({"dpl_workflow": "none"}, ""),
        ({}, ""),
    ],
)
def test_prefixed_override(ev, variables, result):
    assert ev("util.PrefixedOverride('dpl_workflow', 'tpc')", variables) == result
    assert ev("PrefixedOverride('dpl_workflow', 'tpc')", variables) == result


@pytest.mark.parametrize(
    ("args", "result"),
    [
        ("'alio2-cr1-flp001', 'alio2-cr1-flp', '001', '072'", "true"),
        ("'alio2-cr1-flp072', 'alio2-cr1-flp', '001', '072'", "true"),
        ("'alio2-cr1-flp073', 'alio2-cr1-flp', '001', '072'", "false"),
        ("'alio2-cr1-flpX', 'alio2-cr1-flp', '001', '072'", "false"),
        ("'other-host001', 'alio2-cr1-flp', '001', '072'", "false"),
        ("'alio2-cr1-flp005', 'alio2-cr1-flp', 'a', '072'", "false"),
    ],
)
def test_suffix_in_range_returns_strings(make_ctx, args, result):
    value = compile_expression(f"util.SuffixInRange({args})").evaluate(make_ctx())
    assert value == result
    assert type(value) is str


def test_dump_is_disabled_by_default(make_ctx, tmp_path):
    with pytest.raises(ExpressionError, match=r"util\.Dump is disabled") as err:
        compile_expression("util.Dump('payload', 'x.txt')").evaluate(make_ctx())
    assert err.value.column == 5
    assert not list(tmp_path.iterdir())


def test_dump_writes_only_under_the_dump_directory(make_ctx, kv, tmp_path):
    lib = FunctionLibrary(kv, UidGenerator(seed=1), allow_dump=True, dump_dir=tmp_path)
    ctx = make_ctx(lib=lib)
    assert compile_expression("util.Dump('payload', 'sub/x.txt')").evaluate(ctx) == "payload"
    assert (tmp_path / "sub" / "x.txt").read_text() == "payload"
    assert compile_expression("Dump('abs', '/etc/y.txt')").evaluate(ctx) == "abs"
    assert (tmp_path / "etc" / "y.txt").read_text() == "abs"
    with pytest.raises(ExpressionError, match="outside the dump directory"):
        compile_expression("util.Dump('x', '../escape.txt')").evaluate(ctx)
    assert not (tmp_path.parent / "escape.txt").exists()


def test_dump_needs_a_directory(kv):
    with pytest.raises(ValueError, match="dump_dir"):
        FunctionLibrary(kv, UidGenerator(seed=1), allow_dump=True)


# ---------------------------------------------------------------- config.*


@pytest.mark.parametrize(
    ("call", "result"),
    [
        ("config.Get('qc/ANY/any/entry10')", "one two"),  # {% include %} relative to the directory
        ("config.Get('qc/ANY/any/with-sub')", "sub-one"),
        ("config.Get('qc/ANY/any/absolute')", "[readout]\nx=1\n"),
        ("config.Get('qc/ANY/any/funcs')", "ONE "),
        ("config.Get(' qc/ANY/any/entry11 ')", "two"),
        ("config.Get('qc/ANY/any/bool')", ""),
        (
            "config.Get('qc/ANY/any/nope')",
            '{"error":"no payload at configuration path o2/components/qc/ANY/any/nope"}',
        ),
        (
            "config.Get('qc/ANY/any/missing-include')",
            '{"error":"no payload at configuration path o2/components/qc/ANY/any/nope"}',
        ),
        ("config.Get('not a path')", '{"error":"bad component configuration key format"}'),
        ("config.Get('qc/Any/any/x')", '{"error":"bad component configuration key format"}'),
        ("config.Get('qc/WHATEVER/any/x')", '{"error":"bad component configuration key format"}'),
        ("GetConfig('qc/ANY/any/entry11')", "two"),
        ("config.GetLegacy('qc/ANY/any/legacy')", "legacy-one!"),  # templated with the expr engine
        ("config.GetLegacy('qc/ANY/any/entry10')", 'one {% include "entry11" %}'),
        ("GetConfigLegacy('qc/ANY/any/legacy')", "legacy-one!"),
        (
            "config.GetLegacy('qc/ANY/any/x')",
            '{"error":"no payload at configuration path o2/components/qc/ANY/any/x"}',
        ),
    ],
)
def test_config_get(ev, call, result):
    assert ev(call) == result


def test_config_get_payload_is_never_run_through_expr(ev):
    # a pongo2 payload may use filters and tags the expr engine would reject
    assert ev("config.Get('qc/ANY/any/entry10')") == "one two"


def test_config_get_payload_sees_the_callers_variables(ev):
    variables = {**VARIABLES, "v": "fallback", "p_v": "prefixed", "flag": "on"}
    assert ev("config.Get('qc/ANY/any/funcs')", variables) == "ONE prefixed"
    assert ev("config.Get('qc/ANY/any/bool')", variables) == "on"


def test_config_get_syntax_error_is_returned_as_error_payload(ev):
    result = ev("config.Get('qc/ANY/any/bad-syntax')")
    assert result.startswith('{"error":"TemplateSyntaxError')


def test_config_get_payload_is_sandboxed(make_ctx, kv):
    kv.put("o2/components/qc/ANY/any/evil", "{{ ''.__class__.__mro__ }}")
    result = compile_expression("config.Get('qc/ANY/any/evil')").render(make_ctx())
    assert result.startswith('{"error":"SecurityError')


@pytest.mark.parametrize(
    ("call", "result"),
    [
        (
            "config.Resolve('readout', run_type, readout_folder, 'readout-stfb-' + it)",
            "readout/ANY/any/readout-stfb-alio2-cr1-flp001",
        ),
        (
            "config.Resolve('readout', 'PHYSICS', 'any', 'readout-stfb-alio2-cr1-flp002')",
            "readout/PHYSICS/any/readout-stfb-alio2-cr1-flp002",
        ),
        (
            "config.Resolve('readout', 'PHYSICS', 'flp', 'readout-stfb-alio2-cr1-flp002')",
            "readout/PHYSICS/any/readout-stfb-alio2-cr1-flp002",
        ),
        (
            "config.Resolve('readout', 'physics', 'any', 'readout-stfb-alio2-cr1-flp001')",
            "readout/ANY/any/readout-stfb-alio2-cr1-flp001",
        ),
        (
            "config.Resolve('readout', 'nonsense', 'r', 'nope')",
            '{"error":"could not resolve configuration path o2/components/readout/NULL/r/nope"}',
        ),
        (
            "config.ResolvePath('readout/TECHNICAL/x/readout-stfb-alio2-cr1-flp001')",
            "readout/ANY/any/readout-stfb-alio2-cr1-flp001",
        ),
        ("config.ResolvePath('bad')", '{"error":"bad component configuration key format"}'),
        ("ResolveConfigPath('qc/PHYSICS/x/entry11')", "qc/ANY/any/entry11"),
    ],
)
def test_config_resolve(ev, call, result):
    assert ev(call) == result


# ---------------------------------------------------------------- inventory.*


@pytest.mark.parametrize(
    ("call", "result"),
    [
        ("inventory.DetectorForHost(it)", "TPC"),
        ("inventory.DetectorForHost('alio2-cr1-flp187')", "ITS"),
        ("inventory.DetectorForHost('nohost')", '{"error":"detector not found for host nohost"}'),
        ("DetectorForHost('alio2-cr1-flp182')", "MFT"),
        ("inventory.DetectorsForHosts(hosts)", '["ITS","TPC"]'),
        ('inventory.DetectorsForHosts(\'["alio2-cr1-flp001","alio2-cr1-flp002"]\')', '["TPC"]'),
        ("inventory.DetectorsForHosts('[]')", "[]"),
        ("inventory.DetectorsForHosts('null')", "[]"),
        ("inventory.DetectorsForHosts('[\"nohost\"]')", '{"error":"detector not found for host nohost"}'),
        (
            "inventory.DetectorsForHosts('[1]')",
            '{"error":"DetectorsForHosts function: '
            'json: cannot unmarshal number into Go value of type string"}',
        ),
        (
            "inventory.DetectorsForHosts('{}')",
            '{"error":"DetectorsForHosts function: '
            'json: cannot unmarshal object into Go value of type []string"}',
        ),
        (
            "inventory.DetectorsForHosts('oops')",
            '{"error":"DetectorsForHosts function: invalid character \'o\' looking for beginning of value"}',
        ),
        ("DetectorsForHosts(hosts)", '["ITS","TPC"]'),
        ("inventory.CRUCardsForHost(it)", '["1041","0228"]'),
        (
            "inventory.CRUCardsForHost('alio2-cr1-flp187')",
            '["error: nil response for key o2/hardware/flps/alio2-cr1-flp187/cards"]',
        ),
        (
            "inventory.CRUCardsForHost('alio2-cr1-flp002')",
            "[\"error: invalid character 'o' in literal null (expecting 'u')\"]",
        ),
        ("CRUCardsForHost(it)", '["1041","0228"]'),
        ("inventory.EndpointsForCRUCard(it, '1041')", "0 1"),  # space-separated, not JSON
        ("inventory.EndpointsForCRUCard(it, '0228')", "0"),
        ("inventory.EndpointsForCRUCard(it, '9999')", ""),
        (
            "inventory.EndpointsForCRUCard('nohost', '1')",
            '{"error":"nil response for key o2/hardware/flps/nohost/cards"}',
        ),
        ("EndpointsForCRUCard(it, '1041')", "0 1"),
    ],
)
def test_inventory(ev, call, result):
    assert ev(call) == result


def test_cru_cards_of_a_host_without_cards_is_null(make_ctx, kv):
    kv.put("o2/hardware/flps/empty/cards", "{}")
    assert compile_expression("inventory.CRUCardsForHost('empty')").render(make_ctx()) == "null"


def test_cru_card_fields_must_be_strings(make_ctx, kv):
    kv.put("o2/hardware/flps/h/cards", '{"0": {"serial": 1041}}')
    assert compile_expression("inventory.CRUCardsForHost('h')").render(make_ctx()) == (
        '["error: json: cannot unmarshal number into Go struct field Card.serial of type string"]'
    )


# ---------------------------------------------------------------- runtime.*


def test_runtime_get_and_set(ev, kv):
    assert ev("runtime.Get('trg/ltu', 'cfg.txt')") == "ltu-config"
    assert ev("GetRuntimeConfig('trg/ltu', 'cfg.txt')") == "ltu-config"
    assert (
        ev("runtime.Get('aliecs', 'nothing')") == '{"error":"nil response for key o2/runtime/aliecs/nothing"}'
    )
    assert ev("runtime.Set('aliecs', 'k', 'v1')") == "v1"
    assert kv.get("o2/runtime/aliecs/k") == "v1"
    assert ev("runtime.Get('aliecs', 'k')") == "v1"


def test_runtime_set_stays_in_the_runtime_tree(ev, kv):
    assert (
        ev("runtime.Set('..', '../components/x', 'v')")
        == '{"error":"runtime key components/x is outside o2/runtime"}'
    )
    assert kv.get("o2/components/x") is None


# ---------------------------------------------------------------- KV failures


class BrokenKV:
    def get(self, key: str) -> str | None:
        raise ProviderError(f"consul unreachable reading {key}")

    def keys(self, prefix: str) -> list[str]:
        raise ProviderError("consul unreachable")

    def put(self, key: str, value: str) -> None:
        raise ProviderError("consul is read-only")


@pytest.mark.parametrize(
    ("call", "result"),
    [
        ("inventory.DetectorForHost('h')", '{"error":"consul unreachable"}'),
        ("inventory.DetectorsForHosts('[\"h\"]')", '{"error":"consul unreachable"}'),
        ("inventory.CRUCardsForHost('h')", '["error: consul unreachable reading o2/hardware/flps/h/cards"]'),
        ("runtime.Get('a', 'b')", '{"error":"consul unreachable reading o2/runtime/a/b"}'),
        ("runtime.Set('a', 'b', 'c')", '{"error":"consul is read-only"}'),
        ("config.Get('qc/ANY/any/x')", '{"error":"consul unreachable reading o2/components/qc/ANY/any/x"}'),
        (
            "config.GetLegacy('qc/ANY/any/x')",
            '{"error":"consul unreachable reading o2/components/qc/ANY/any/x"}',
        ),
        (
            "config.ResolvePath('qc/ANY/any/x')",
            '{"error":"could not resolve configuration path o2/components/qc/ANY/any/x"}',
        ),
    ],
)
def test_kv_failures_become_aliecs_failure_strings(make_ctx, call, result):
    lib = FunctionLibrary(BrokenKV(), UidGenerator(seed=1))
    assert compile_expression(call).render(make_ctx(lib=lib)) == result


# ---------------------------------------------------------------- plugins


def test_testplugin_object(ev):
    assert ev("testplugin.test") == "test_data"


def test_odc_topology_fullname_is_the_dummy(ev):
    assert ev("epn_enabled == 'true' ? odc.GenerateEPNTopologyFullname() : ''") == ""
    assert ev("odc.GenerateEPNTopologyFullname()") == ""


EPN_VARS = {
    "environment_id": "2oDvieFrVTi",
    "pdp_config_option": "Repository hash",
    "pdp_o2_data_processing_hash": "default",
    "tfb_dd_mode": "physics",
    "pdp_topology_description_library_file": "production/production.desc",
    "pdp_workflow_name": "synchronous-workflow",
    "pdp_detector_list_global": "default",
    "detectors": '["TPC","ITS"]',
    "ctp_readout_enabled": "true",
    "pdp_detector_exclude_list_qc": "",
    "pdp_detector_exclude_list_calib": " ",
    "pdp_workflow_parameters": "QC,CALIB",
    "odc_n_epns": "200",
    "odc_n_epns_max_fail": "10",
    "pdp_raw_decoder_multi_factor": "1",
    "pdp_ctf_encoder_multi_factor": "1",
    "pdp_reco_process_multi_factor": "1",
    "pdp_beam_type": "pp",
    "pdp_n_hbf_per_tf": "128",
    "pdp_o2pdpsuite_version": "default",
    "epn_store_raw_data_fraction": "0.0",
    "pdp_epn_shmid": "0",
    "run_type": "PHYSICS",
    "hosts": '["alio2-cr1-flp001","alio2-cr1-mvs02","other"]',
    "setup_name": "ALICE global run",
    "pdp_extra_env_vars": " EXTRA=1 ",
    "pdp_epn_shm_sizes": "SHMSIZE=128",
    "pdp_generator_script_path": "/home/epn/pdp/gen_topo.sh",
    "pdp_wipe_workflow_cache": "true",
}


@pytest.fixture
def epn_library() -> FunctionLibrary:
    data = dict(KV_DATA)
    kv = FileKVProvider(data)
    kv.put("o2/runtime/aliecs/defaults/pdp_o2_data_processing_hash", "deadbeef")
    kv.put("o2/runtime/aliecs/vars/pdp_o2pdpsuite_version", "1.2.3")
    return FunctionLibrary(kv, UidGenerator(seed=1))


def test_odc_epn_workflow_script(epn_library):
    ctx = EvalContext(variables=EPN_VARS, library=epn_library)
    script = compile_expression("odc.GenerateEPNWorkflowScript()").render(ctx)
    body = (
        "GEN_TOPO_HASH=1 GEN_TOPO_SOURCE='deadbeef' DDMODE='physics' "
        "GEN_TOPO_LIBRARY_FILE='production/production.desc' GEN_TOPO_WORKFLOW_NAME='synchronous-workflow' "
        "WORKFLOW_DETECTORS='ITS,TPC,TRG' WORKFLOW_DETECTORS_EXCLUDE_QC='' "
        "WORKFLOW_DETECTORS_EXCLUDE_CALIB='' "
        "WORKFLOW_PARAMETERS='QC,CALIB' RECO_NUM_NODES_OVERRIDE=200 RECO_MAX_FAIL_NODES_OVERRIDE=10 "
        "MULTIPLICITY_FACTOR_RAWDECODERS=1 MULTIPLICITY_FACTOR_CTFENCODERS=1 MULTIPLICITY_FACTOR_REST=1 "
        "BEAMTYPE='pp' NHBPERTF=128 GEN_TOPO_ONTHEFLY=1 OVERRIDE_PDPSUITE_VERSION='1.2.3' "
        "SET_QCJSON_VERSION='abc123' DD_DISK_FRACTION='0.0' SHM_MANAGER_SHMID='0' RUNTYPE=PHYSICS "
        "FLP_IDS='001,S02' GEN_TOPO_DEPLOYMENT_TYPE=ALICE_global_run "
        "EXTRA=1 SHMSIZE=128 /home/epn/pdp/gen_topo.sh"
    )
    digest = hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()
    assert (
        script == f"ECS_ENVIRONMENT_ID=2oDvieFrVTi GEN_TOPO_WIPE_CACHE=1 GEN_TOPO_CACHE_HASH={digest} {body}"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"pdp_config_option": "Manual XML"}, ""),
        ({"odc_n_epns": "many"}, ""),
        ({"pdp_workflow_name": None}, ""),
        ({"pdp_config_option": "Repository path", "pdp_o2_data_processing_path": "/p"}, "GEN_TOPO_HASH=0"),
    ],
)
def test_odc_epn_workflow_script_gives_up_like_the_plugin(epn_library, change, expected):
    variables = {k: v for k, v in {**EPN_VARS, **change}.items() if v is not None}
    script = compile_expression("odc.GenerateEPNWorkflowScript()").render(EvalContext(variables, epn_library))
    assert (script == expected) if expected == "" else (expected in script)


def test_odc_script_without_environment_id_is_a_nil_member(epn_library):
    variables = {k: v for k, v in EPN_VARS.items() if k != "environment_id"}
    with pytest.raises(ExpressionError, match="cannot call nil"):
        compile_expression("odc.GenerateEPNWorkflowScript()").render(EvalContext(variables, epn_library))


# ---------------------------------------------------------------- dpl.*


class FakeDpl:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def generate(self, command: str, ctx: EvalContext) -> str:
        self.calls.append(("generate", command, ctx.variables.get("it", "")))
        return "jit-0123"

    def generate_from_uri(self, name: str, ctx: EvalContext) -> str:
        self.calls.append(("uri", name, ctx.variables.get("it", "")))
        if name == "broken":
            raise ExpressionError("unknown name detector", expression="detector", column=0)
        return "jit-4567"

    def generate_from_uri_or_fallback(self, name: str, ctx: EvalContext) -> str:
        self.calls.append(("fallback", name, ctx.variables.get("it", "")))
        return name


@pytest.fixture
def dpl_ctx(kv, make_ctx):
    fake = FakeDpl()
    lib = FunctionLibrary(kv, UidGenerator(seed=1), dpl=fake)
    return fake, make_ctx(lib=lib)


@pytest.mark.parametrize(
    ("call", "result", "recorded"),
    [
        ("dpl.Generate('o2-dpl-run')", "jit-0123", ("generate", "o2-dpl-run", "alio2-cr1-flp001")),
        ("dpl.GenerateFromUri('tpc-qc')", "jit-4567", ("uri", "tpc-qc", "alio2-cr1-flp001")),
        (
            "dpl.GenerateFromUriOrFallbackToTemplate('tpc-idc')",
            "tpc-idc",
            ("fallback", "tpc-idc", "alio2-cr1-flp001"),
        ),
        ("GenerateDplSubworkflow('cmd')", "jit-0123", ("generate", "cmd", "alio2-cr1-flp001")),
        ("GenerateDplSubworkflowFromUri('x')", "jit-4567", ("uri", "x", "alio2-cr1-flp001")),
    ],
)
def test_dpl_functions_call_the_resolver_with_the_callers_context(dpl_ctx, call, result, recorded):
    fake, ctx = dpl_ctx
    assert compile_expression(call).render(ctx) == result
    assert fake.calls == [recorded]


@pytest.mark.parametrize(
    "call",
    [
        "dpl.Generate('none')",
        "dpl.GenerateFromUri('none')",
        "dpl.GenerateFromUriOrFallbackToTemplate('none')",
    ],
)
def test_dpl_none_argument_is_an_error_before_the_resolver(dpl_ctx, call):
    fake, ctx = dpl_ctx
    with pytest.raises(ExpressionError, match="dplCommand is 'none'"):
        compile_expression(call).render(ctx)
    assert fake.calls == []


def test_dpl_resolver_failure_becomes_the_expression_error(dpl_ctx):
    _fake, ctx = dpl_ctx
    with pytest.raises(ExpressionError, match="unknown name detector") as err:
        compile_expression("dpl.GenerateFromUri('broken')").render(ctx)
    assert err.value.expression == "dpl.GenerateFromUri('broken')"
    assert err.value.column == 4


# ---------------------------------------------------------------- ToPtree (task property maps)


def test_to_ptree_stores_the_payload_under_a_new_key(library, make_ctx):
    props: dict[str, str] = {}
    ctx = make_ctx(extra={"ToPtree": library.to_ptree(props)})
    key = compile_expression("ToPtree(GetConfig('qc/ANY/any/entry11'), ' JSON ')").render(ctx)
    assert key.startswith("__ptree__:json:")
    assert props == {key: "two"}


def test_to_ptree_with_a_bad_syntax_stores_an_error_payload(library, make_ctx):
    props: dict[str, str] = {}
    ctx = make_ctx(extra={"ToPtree": library.to_ptree(props)})
    key = compile_expression("ToPtree('x', 'yaml')").render(ctx)
    assert key.startswith("__ptree__:json:")
    assert props[key] == '{"error":"bad ToPtree syntax argument, allowed values: ini, json, xml"}'


def test_to_ptree_is_typed(library, make_ctx):
    ctx = make_ctx(extra={"ToPtree": library.to_ptree({})})
    with pytest.raises(ExpressionError, match=r"cannot use int as argument \(type string\) to call ToPtree"):
        compile_expression("ToPtree(1, 'json')").render(ctx)
