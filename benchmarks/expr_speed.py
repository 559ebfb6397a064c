"""Speed of the ``{{ }}`` engine: per-tag render cost and an ALICE-sized planning workload.

Run from the repository root::

    /work/venv/bin/python benchmarks/expr_speed.py

Targets (task brief): a typical tag well under 10 µs, plain text free, and the ~60k renders of a
200-host readout-dataflow-like plan in well under the 1 s the whole planning may take. Times are the
best of several repeats (the machine is shared), in microseconds per render.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nomadctl.manifest.expr import (
    EvalContext,
    FunctionLibrary,
    RoleRef,
    UidGenerator,
    compile_template,
)
from nomadctl.providers.file import FileKVProvider

HOSTS = 200

# Fields of a readout-dataflow-like host subtree, modelled on ControlWorkflows HEAD: most are plain
# text or one variable; some are conditions, paths, ids and inventory lookups. (text, count per host)
FIELDS: list[tuple[str, int]] = [
    ("plain text without tags", 120),
    ("{{ it }}", 40),
    ("{{ readout_cfg_uri }}", 20),
    ("{{ dd_enabled == 'true' }}", 20),
    ("{{ epn_enabled == 'true' && dd_enabled == 'true' }}", 10),
    ("{{ len(modulepath)>0 ? _module_cmdline : _plain_cmdline }}", 20),
    ("{{ Parent().Path }}.stfb:buildertosender", 10),
    ("{{ Up(2).Path }}.readout:readout", 10),
    ("{{ !strings.IsFalsy(auto_stop_timeout) }}", 10),
    ("{{ stfb_enable_datasink == 'true' ? '--data-sink-dir=' +  stfb_datasink_dir : ' ' }}", 10),
    ("stfb-{{ it }}-{{ uid.New() }}", 5),
    (
        "{{dd_enabled == 'true' && (qcdd_enabled == 'false' && minimal_dpl_enabled == 'false' && "
        "strings.IsFalsy(dpl_workflow) && strings.IsFalsy(dpl_command))}}",
        10,
    ),
    ("{{ util.PrefixedOverride( 'dpl_workflow', strings.ToLower( inventory.DetectorForHost( it ) ) ) }}", 5),
    ("{{ util.SuffixInRange(it, 'alio2-cr1-flp', '001', '072') }}", 5),
    ("{{ detectors contains 'ITS' }}", 5),
]


def make_context(host: int, lib: FunctionLibrary, variables: dict[str, str]) -> EvalContext:
    name = f"alio2-cr1-flp{host:03d}"
    root = RoleRef("readout-dataflow", "readout-dataflow")
    host_role = RoleRef(f"host-{name}", f"readout-dataflow.host-{name}")
    dd = RoleRef("data-distribution", f"{host_role.path}.data-distribution")
    return EvalContext({**variables, "it": name}, lib, (dd, host_role, root))


def build() -> tuple[FunctionLibrary, dict[str, str]]:
    inventory = {f"o2/hardware/detectors/TPC/flps/alio2-cr1-flp{i:03d}/": "" for i in range(1, HOSTS + 1)}
    lib = FunctionLibrary(FileKVProvider(inventory), UidGenerator(seed=1))
    variables = {
        "readout_cfg_uri": "consul-ini://consul:8500/o2/components/readout/ANY/any/readout",
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
        "stfb_enable_datasink": "false",
        "stfb_datasink_dir": "/data",
        "detectors": '["ITS","TPC"]',
    }
    # a production-sized variable stack: a few hundred entries
    variables.update({f"var_{i}": str(i) for i in range(400)})
    return lib, variables


def best_of(fn, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    lib, variables = build()
    ctx = make_context(1, lib, variables)
    print(f"{'template':<70} {'µs/render':>10}")
    print("-" * 81)
    loops = 5000
    for text, _count in FIELDS:
        tpl = compile_template(text)
        tpl.render(ctx)

        def run(tpl=tpl) -> None:
            for _ in range(loops):
                tpl.render(ctx)

        micro = best_of(run) / loops * 1e6
        shown = text if len(text) <= 68 else text[:65] + "..."
        print(f"{shown:<70} {micro:>10.2f}")

    compile_cold = time.perf_counter()
    for i, (text, _count) in enumerate(FIELDS):
        # a comment in each tag makes the expressions new: a cold parse + compile
        compile_template(text.replace("}}", f" /* cold {i} */}}}}"))
    cold = (time.perf_counter() - compile_cold) / len(FIELDS) * 1e6
    # the first render of a new expression also runs the static check once
    print(f"{'(cold compile of a new distinct text, per template)':<70} {cold:>10.2f}")

    contexts = [make_context(h, lib, variables) for h in range(1, HOSTS + 1)]
    plan = [(compile_template(text), count) for text, count in FIELDS]
    renders = sum(count for _t, count in plan) * HOSTS

    def workload() -> None:
        for host_ctx in contexts:
            for tpl, count in plan:
                for _ in range(count):
                    tpl.render(host_ctx)

    total = best_of(workload, repeats=3)
    print("-" * 81)
    label = f"{HOSTS} hosts x {renders // HOSTS} fields = {renders} renders (ms total)"
    print(f"{label:<70} {total * 1e3:>10.1f}")
    print(f"{'mean per render (µs)':<70} {total / renders * 1e6:>10.2f}")


if __name__ == "__main__":
    main()
