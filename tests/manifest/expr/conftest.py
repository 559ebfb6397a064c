"""Shared fixtures: a file-backed KV with a small ALICE-like inventory and a seeded library."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from nomadctl.manifest.expr import EvalContext, FunctionLibrary, RoleRef, UidGenerator, compile_template
from nomadctl.providers.file import FileKVProvider

KV_DATA: dict[str, object] = {
    "o2": {
        "hardware": {
            "detectors": {
                "TPC": {"flps": {"alio2-cr1-flp001": {}, "alio2-cr1-flp002": {}}},
                "ITS": {"flps": {"alio2-cr1-flp187": {}}},
                "MFT": {"flps": {"alio2-cr1-flp182": {}}},
            },
            "flps": {
                "alio2-cr1-flp001/cards": (
                    '{"0": {"type": "CRU", "serial": "1041", "endpoint": "0"},'
                    ' "1": {"type": "CRU", "serial": "1041", "endpoint": "1"},'
                    ' "2": {"type": "CRU", "serial": "0228", "endpoint": "0"}}'
                ),
                "alio2-cr1-flp002/cards": "not json",
            },
        },
        "components": {
            "readout": {
                "ANY": {"any": {"readout-stfb-alio2-cr1-flp001": "[readout]\nx=1\n"}},
                "PHYSICS": {"any": {"readout-stfb-alio2-cr1-flp002": "[readout]\nx=2\n"}},
            },
            "qc": {
                "ANY": {
                    "any": {
                        "entry10": '{{ var1 }} {% include "entry11" %}',
                        "entry11": "{{ var2 }}",
                        "sub/entry12": "sub-{{ var1 }}",
                        "with-sub": '{% include "sub/entry12" %}',
                        "absolute": '{% include "/readout/ANY/any/readout-stfb-alio2-cr1-flp001" %}',
                        "funcs": "{{ strings.ToUpper(var1) }} {{ util.PrefixedOverride('v', 'p') }}",
                        "legacy": "legacy-{{ var1 + '!' }}",
                        "missing-include": '{% include "nope" %}',
                        "bad-syntax": "{% if %}",
                        "bool": "{{ flag }}",
                    }
                }
            },
        },
        "runtime": {"trg": {"ltu": {"cfg.txt": "ltu-config"}}, "qc": {"config_hash": "abc123"}},
    },
}

VARIABLES: dict[str, str] = {
    "it": "alio2-cr1-flp001",
    "hosts": '["alio2-cr1-flp001","alio2-cr1-flp187"]',
    "detectors": '["TPC","ITS"]',
    "dd_enabled": "true",
    "epn_enabled": "false",
    "qcdd_enabled": "false",
    "minimal_dpl_enabled": "false",
    "dpl_workflow": "none",
    "dpl_command": "none",
    "modulepath": "",
    "_module_cmdline": "module load Readout && o2-readout-exe",
    "_plain_cmdline": "source /etc/profile.d/o2.sh && o2-readout-exe",
    "auto_stop_timeout": "none",
    "consul_endpoint": "consul.cern.ch:8500",
    "run_type": "PHYSICS",
    "readout_folder": "any",
    "stfb_enable_datasink": "false",
    "stfb_datasink_dir": "/data",
    "ddsched_enabled": "true",
    "odc_resources_spec": "default",
    "odc_n_epns": "42",
    "ctp_readout_enabled": "false",
    "ctp_readout_host": "alio2-cr1-flp163",
    "pdp_n_hbf_per_tf": "128",
    "var1": "one",
    "var2": "two",
}

ROOT = RoleRef("readout-dataflow", "readout-dataflow")
HOST = RoleRef("host-alio2-cr1-flp001", "readout-dataflow.host-alio2-cr1-flp001")
DD = RoleRef("data-distribution", "readout-dataflow.host-alio2-cr1-flp001.data-distribution")


@pytest.fixture
def kv() -> FileKVProvider:
    return FileKVProvider(KV_DATA)


@pytest.fixture
def library(kv: FileKVProvider) -> FunctionLibrary:
    return FunctionLibrary(kv, UidGenerator(seed=7))


@pytest.fixture
def make_ctx(library: FunctionLibrary) -> Callable[..., EvalContext]:
    def make(
        variables: Mapping[str, str] | None = None,
        *,
        chain: tuple[RoleRef, ...] | None = (DD, HOST, ROOT),
        this: RoleRef | None = None,
        extra: Mapping[str, object] | None = None,
        lib: FunctionLibrary | None = None,
    ) -> EvalContext:
        return EvalContext(
            variables=VARIABLES if variables is None else variables,
            library=lib or library,
            parent_chain=chain,
            this=this,
            extra=extra or {},
        )

    return make


@pytest.fixture
def render(make_ctx: Callable[..., EvalContext]) -> Callable[..., str]:
    def run(text: str, variables: Mapping[str, str] | None = None, **kwargs: object) -> str:
        return compile_template(text).render(make_ctx(variables, **kwargs))

    return run
