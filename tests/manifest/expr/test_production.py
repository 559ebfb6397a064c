"""The twenty verbatim expressions of reference §3.5 (ControlWorkflows HEAD) with realistic values."""

from __future__ import annotations

import pytest

from nomadctl.errors import ExpressionError
from nomadctl.manifest.expr import EvalContext, FunctionLibrary, UidGenerator, compile_template
from nomadctl.manifest.expr.uid import decode_uid
from tests.manifest.expr.conftest import DD, HOST, ROOT, VARIABLES

# (template text as it reaches the engine after YAML unquoting, variables to add, expected)
PRODUCTION = [
    ("{{ !strings.IsFalsy(auto_stop_timeout) }}", {}, "false"),
    ("{{ !strings.IsFalsy(auto_stop_timeout) }}", {"auto_stop_timeout": "30m"}, "true"),
    ("{{ epn_enabled == 'true' && dd_enabled == 'true' }}", {}, "false"),
    ("{{ epn_enabled == 'true' && dd_enabled == 'true' }}", {"epn_enabled": "true"}, "true"),
    ('{{ epn_enabled == "true" ? odc.GenerateEPNTopologyFullname() : "" }}', {"epn_enabled": "true"}, ""),
    ("{{ inventory.DetectorsForHosts(hosts) }}", {}, '["ITS","TPC"]'),
    (
        "consul-ini://{{ consul_endpoint }}/o2/components/"
        "{{config.Resolve('readout', run_type, readout_folder, 'readout-stfb-' + it)}}",
        {},
        "consul-ini://consul.cern.ch:8500/o2/components/readout/ANY/any/readout-stfb-alio2-cr1-flp001",
    ),
    (
        "{{ util.PrefixedOverride( 'dpl_workflow', strings.ToLower( inventory.DetectorForHost( it ) ) ) }}",
        {"dpl_workflow": "generic", "tpc_dpl_workflow": "tpc-full"},
        "tpc-full",
    ),
    ("{{ctp_readout_enabled == 'true' ? inventory.DetectorForHost( ctp_readout_host ) : \"\" }}", {}, ""),
    (
        "{{ctp_readout_enabled == 'true' ? inventory.DetectorForHost( ctp_readout_host ) : \"\" }}",
        {"ctp_readout_enabled": "true", "ctp_readout_host": "alio2-cr1-flp182"},
        "MFT",
    ),
    ("{{ Up(2).Path }}.readout:readout", {}, "readout-dataflow.host-alio2-cr1-flp001.readout:readout"),
    (
        "{{ Parent().Path }}.stfb:buildertosender",
        {},
        "readout-dataflow.host-alio2-cr1-flp001.data-distribution.stfb:buildertosender",
    ),
    (
        "{{dd_enabled == 'true' && (qcdd_enabled == 'false' && minimal_dpl_enabled == 'false' && "
        "strings.IsFalsy(dpl_workflow) && strings.IsFalsy(dpl_command))}}",
        {},
        "true",
    ),
    ("{{ detectors contains 'ITS' }}", {}, "true"),
    ("{{ detectors contains 'MID' }}", {}, "false"),
    (
        "{{ glo_fwd_mtch_qc_enabled == 'true' && qc_remote_jit_enabled == 'true' && 'MFT' in "
        "json.Unmarshal(detectors) && !('MID' in json.Unmarshal(detectors)) }}",
        {"glo_fwd_mtch_qc_enabled": "true", "qc_remote_jit_enabled": "true", "detectors": '["MFT","TPC"]'},
        "true",
    ),
    (
        "{{ json.Marshal(json.Sort(json.Unmarshal(detectors))) }}",
        {"detectors": '["TPC","ITS","MFT"]'},
        '["ITS","MFT","TPC"]',
    ),
    (
        "{{ runtime.Get('trg/ltu', trg_runtime_config_file) }}",
        {"trg_runtime_config_file": "cfg.txt"},
        "ltu-config",
    ),
    (
        '{{strings.TrimSpace(odc_resources_spec) == "default" ? "[ {\\"zone\\":\\"online\\", \\"n\\":\\"" + '
        'odc_n_epns + "\\"}, {\\"zone\\":\\"calib\\"} ]" : odc_resources_spec }}',
        {},
        '[ {"zone":"online", "n":"42"}, {"zone":"calib"} ]',
    ),
    ("{{ util.SuffixInRange(it, 'alio2-cr1-flp', '001', '072') }}", {}, "true"),
    ("{{ util.SuffixInRange(it, 'alio2-cr1-flp', '002', '072') }}", {}, "false"),
    (
        "{{ len(modulepath)>0 ? _module_cmdline : _plain_cmdline }}",
        {},
        "source /etc/profile.d/o2.sh && o2-readout-exe",
    ),
    (
        "{{ len(modulepath)>0 ? _module_cmdline : _plain_cmdline }}",
        {"modulepath": "/opt/modules"},
        "module load Readout && o2-readout-exe",
    ),
    ("{{ stfb_enable_datasink == 'true' ? '--data-sink-dir=' +  stfb_datasink_dir : ' ' }}", {}, " "),
    (
        "{{ stfb_enable_datasink == 'true' ? '--data-sink-dir=' +  stfb_datasink_dir : ' ' }}",
        {"stfb_enable_datasink": "true"},
        "--data-sink-dir=/data",
    ),
    ('{{ ddsched_enabled == "true" ? "" : "--stand-alone" }}', {}, ""),
    ("{{ inventory.CRUCardsForHost( it ) }}", {}, '["1041","0228"]'),
    (
        "{{ inventory.EndpointsForCRUCard( host, card ) }}",
        {"host": "alio2-cr1-flp001", "card": "1041"},
        "0 1",
    ),
    ("--n-TFs-buffer $(( 100 * 128 / {{ pdp_n_hbf_per_tf }} ))", {}, "--n-TFs-buffer $(( 100 * 128 / 128 ))"),
    (
        "--config 'apricot://{{ apricot_endpoint }}/o2/components/qc/ANY/any/tpc-full-qcmn"
        "?run_type={{ run_type }}&beam_type={{ pdp_beam_type }}"
        "&ctp_readout_enabled={{ ctp_readout_enabled }}'",
        {"apricot_endpoint": "apricot:32188", "pdp_beam_type": "PbPb"},
        "--config 'apricot://apricot:32188/o2/components/qc/ANY/any/tpc-full-qcmn?run_type=PHYSICS"
        "&beam_type=PbPb&ctp_readout_enabled=false'",
    ),
    (
        "CRU_IDS=$(consul kv get o2/cache/flpToCruId/{{ it }}) && o2-dpl-raw-proxy",
        {},
        "CRU_IDS=$(consul kv get o2/cache/flpToCruId/alio2-cr1-flp001) && o2-dpl-raw-proxy",
    ),
]


@pytest.mark.parametrize(("text", "more", "expected"), PRODUCTION)
def test_production_expression(render, text, more, expected):
    assert render(text, {**VARIABLES, **more}) == expected


class _Jit:
    def generate(self, command: str, ctx: EvalContext) -> str:
        raise AssertionError("not used")

    def generate_from_uri(self, name: str, ctx: EvalContext) -> str:
        raise AssertionError("not used")

    def generate_from_uri_or_fallback(self, name: str, ctx: EvalContext) -> str:
        return "jit-" + name if name.startswith("tpc") else name


@pytest.mark.parametrize(
    ("enabled", "workflow", "expected"),
    [
        ("false", "tpc-qc", ""),
        ("true", "tpc-qc", "jit-tpc-qc"),
        ("true", "tpc-idc-sac-full-split", "jit-tpc-idc-sac-full-split"),
    ],
)
def test_jit_include(kv, enabled, workflow, expected):
    lib = FunctionLibrary(kv, UidGenerator(seed=1), dpl=_Jit())
    variables = {**VARIABLES, "flp_workflows_jit_enabled": enabled, "dpl_workflow": workflow}
    text = (
        "{{ flp_workflows_jit_enabled == 'true' ? "
        "dpl.GenerateFromUriOrFallbackToTemplate(dpl_workflow) : '' }}"
    )
    assert compile_template(text).render(EvalContext(variables, lib, (ROOT,))) == expected


def test_stfb_discovery_id_with_two_tags(library):
    ctx = EvalContext({**VARIABLES}, library, (DD, HOST, ROOT))
    first = compile_template("stfb-{{ it }}-{{ uid.New() }}").render(ctx)
    second = compile_template("stfb-{{ it }}-{{ uid.New() }}").render(ctx)
    assert first.startswith("stfb-alio2-cr1-flp001-")
    assert first != second
    decode_uid(first.rsplit("-", 1)[1])  # a well-formed AliECS id


def test_ctp_readout_condition_without_the_variable_fails_strictly(render):
    # ``enabled: "{{ ctp_readout_enabled == 'true' }}"`` with the variable undefined: an error the
    # role engine turns into "disabled" (only for ``enabled``)
    variables = {k: v for k, v in VARIABLES.items() if k != "ctp_readout_enabled"}
    with pytest.raises(ExpressionError, match="unknown name ctp_readout_enabled"):
        render(
            "{{ctp_readout_enabled == 'true' ? inventory.DetectorForHost( ctp_readout_host ) : \"\" }}",
            variables,
        )


def test_parent_of_iterated_host_is_the_root(render):
    # §3.7: iterator-made roles hang under the iterator's parent, so Parent() of host-X is the root
    assert render("{{ Parent().Path }}", chain=(ROOT,)) == "readout-dataflow"
    with pytest.raises(ExpressionError, match="cannot fetch Path from <nil>"):
        render("{{ Up(2).Path }}", chain=(ROOT,))


def test_call_role_func_is_evaluated_as_a_template(kv):
    # call roles evaluate ``"{{" + func + "}}"`` at hook time with a fresh variable stack
    lib = FunctionLibrary(kv, UidGenerator(seed=1), plugins={"dcs": {"PrepareForRun": lambda: "ok"}})
    ctx = EvalContext({"run_number": "123"}, lib, (ROOT,))
    assert compile_template("{{" + "dcs.PrepareForRun()" + "}}").render(ctx) == "ok"
