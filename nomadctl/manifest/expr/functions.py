"""The functions and objects AliECS puts in the expression environment (reference §3.2).

``FunctionLibrary`` builds them once: the util map (``configuration/template/stack.go``
``MakeUtilFuncMap``), the ``dpl`` functions, the deprecated flat config functions, the integration
plugins' objects and the config access objects (``config``, ``inventory``, ``runtime``). External
lookups read the Consul KV layout through a ``KVStore`` (``nomadctl.providers`` implements it) and
fail the AliECS way: they return ``{"error":"..."}`` (CRU cards: ``["error: ..."]``) instead of
raising, so the failure flows into the manifest exactly as in AliECS.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from nomadctl.errors import ExpressionError, NomadctlError
from nomadctl.manifest.expr.builtins import go_atoi, go_case, go_parse_json, go_trim_space
from nomadctl.manifest.expr.context import EvalContext, copy_map
from nomadctl.manifest.expr.gofmt import JsonError, go_json, go_value
from nomadctl.manifest.expr.natures import ANY, INT, STRING, STRING_PTR, GoFunc, Nature
from nomadctl.manifest.expr.payload import (
    RUN_TYPES,
    ConfigQuery,
    PayloadError,
    PayloadRenderer,
    QueryError,
    parse_query,
)
from nomadctl.manifest.expr.runtime import GoPanic
from nomadctl.manifest.expr.template import compile_template
from nomadctl.manifest.expr.values import IntList

if TYPE_CHECKING:
    from nomadctl.manifest.expr.context import DplResolver
    from nomadctl.manifest.expr.uid import UidGenerator

__all__ = ["FunctionLibrary", "KVStore"]

log = logging.getLogger(__name__)

_S = STRING


@runtime_checkable
class KVStore(Protocol):
    """The key-value interface the library reads: ``nomadctl.providers.base.KVProvider``.

    Declared again here because the manifest layer may not import ``nomadctl.providers``
    (import-linter keeps the two independent); any ``KVProvider`` satisfies it structurally.
    Failures are raised as ``NomadctlError`` subclasses (``ProviderError``).
    """

    def get(self, key: str) -> str | None: ...

    def keys(self, prefix: str) -> list[str]: ...

    def put(self, key: str, value: str) -> None: ...


def _error(message: str) -> str:
    # AliECS formats the message without JSON escaping: fmt.Sprintf("{\"error\":\"%s\"}", err)
    return '{"error":"' + message + '"}'


def _kv_message(exc: NomadctlError) -> str:
    return exc.one_line()


def _go_json_kind(value: object) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _unmarshal_strings(text: str) -> list[str]:
    """``json.Unmarshal(text, &[]string{})``; raises ``GoPanic`` with Go's message."""
    value = go_parse_json(text)
    if value is None:
        return []
    if not isinstance(value, list):
        raise GoPanic(f"json: cannot unmarshal {_go_json_kind(value)} into Go value of type []string")
    out: list[str] = []
    for item in value:
        if item is None:
            out.append("")
        elif isinstance(item, str):
            out.append(item)
        else:
            raise GoPanic(f"json: cannot unmarshal {_go_json_kind(item)} into Go value of type string")
    return out


_CARD_FIELDS = ("type", "pciAddress", "serial", "endpoint", "numa", "firmware", "userLogicVersion")


def _unmarshal_cards(text: str) -> list[dict[str, str]]:
    """``json.Unmarshal(text, &map[string]Card{})`` (apricot ``local.Card``), in key order."""
    value = go_parse_json(text)
    if value is None:
        return []
    if not isinstance(value, dict):
        kind = _go_json_kind(value)
        raise GoPanic(f"json: cannot unmarshal {kind} into Go value of type map[string]local.Card")
    cards: list[dict[str, str]] = []
    for _key, raw in sorted(value.items()):
        if raw is None:
            cards.append(dict.fromkeys(_CARD_FIELDS, ""))
            continue
        if not isinstance(raw, dict):
            kind = _go_json_kind(raw)
            raise GoPanic(f"json: cannot unmarshal {kind} into Go value of type local.Card")
        card = dict.fromkeys(_CARD_FIELDS, "")
        for name, item in raw.items():
            field = next((f for f in _CARD_FIELDS if f.lower() == name.lower()), None)
            if field is None or item is None:
                continue
            if not isinstance(item, str):
                kind = _go_json_kind(item)
                raise GoPanic(
                    f"json: cannot unmarshal {kind} into Go struct field Card.{field} of type string"
                )
            card[field] = item
        cards.append(card)
    return cards


def _parse_bool(text: str) -> bool | None:
    """``strconv.ParseBool``."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


class FunctionLibrary:
    """The functions and objects of the expression environment, bound to one KV and uid source.

    ``dpl`` enables the ``dpl.*`` functions (workflow-template processing with a repository).
    ``plugins`` adds or overrides integration-plugin objects (merged like Go ``copyMap`` over the
    defaults ``odc`` and ``testplugin``). ``util.Dump`` writes files only when ``allow_dump`` is
    set, and then only inside ``dump_dir``.

    A library caches the inventory it has read (detectors of hosts): make one per environment load.
    """

    def __init__(
        self,
        kv: KVStore,
        uid: UidGenerator,
        *,
        dpl: DplResolver | None = None,
        plugins: Mapping[str, Mapping[str, Callable[..., object]]] | None = None,
        allow_dump: bool = False,
        dump_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if allow_dump and dump_dir is None:
            raise ValueError("allow_dump=True needs a dump_dir to confine util.Dump")
        self.kv = kv
        self.uid = uid
        self.dpl = dpl
        self.allow_dump = allow_dump
        self.dump_dir = Path(dump_dir).resolve() if dump_dir is not None else None
        self._payloads = PayloadRenderer(kv)
        self._detectors: dict[str, str] | None = None
        self.util_map: dict[str, object] = self._util_map(uid)
        namespace: dict[str, object] = dict(self.util_map)
        if dpl is not None:
            namespace.update(self._dpl_functions())
        namespace.update(self._flat_config_functions())
        plugin_objects: dict[str, object] = self._default_plugins()
        # caller plugins merge member by member over the defaults (a same-named member replaces)
        copy_map(plugins or {}, plugin_objects)
        copy_map(plugin_objects, namespace)
        copy_map(self._config_objects(), namespace)
        #: every library name, merged in AliECS's order (variables and the object stack lie below)
        self.namespace: dict[str, object] = namespace

    # ------------------------------------------------------------ property maps (stack.go)

    def to_ptree(self, prop_map: dict[str, str]) -> GoFunc:
        """``ToPtree(payload, syntax)`` for one task's property map (``MakeToPtreeFunc``).

        Pass it in ``EvalContext.extra`` when templating task properties: it stores ``payload``
        under a new key ``__ptree__:<syntax>:<id>`` of ``prop_map`` and returns that key, which
        the OCC side turns into a property tree. A syntax other than ini/json/xml stores an error
        payload as JSON, as AliECS does.
        """

        def run(payload: str, syntax: str) -> str:
            kind = go_trim_space(syntax).lower()
            if kind not in ("ini", "json", "xml"):
                log.warning("failed to generate ptree descriptor: bad ToPtree syntax argument %r", syntax)
                payload = _error("bad ToPtree syntax argument, allowed values: ini, json, xml")
                kind = "json"
            key = f"__ptree__:{kind}:{self.uid.new()}"
            prop_map[key] = payload
            return key

        return GoFunc("ToPtree", run, (_S, _S), STRING)

    # ------------------------------------------------------------ util map (stack.go)

    def _util_map(self, uid: UidGenerator) -> dict[str, object]:
        strings_map: dict[str, object] = {
            "Atoi": GoFunc("Atoi", lambda s: go_atoi(s)[0], (_S,), INT),
            "Itoa": GoFunc("Itoa", str, (INT,), STRING),
            "TrimQuotes": GoFunc("TrimQuotes", lambda s: s.strip('"'), (_S,), STRING),
            "TrimSpace": GoFunc("TrimSpace", go_trim_space, (_S,), STRING),
            "ToUpper": GoFunc("ToUpper", lambda s: go_case(s, True), (_S,), STRING),
            "ToLower": GoFunc("ToLower", lambda s: go_case(s, False), (_S,), STRING),
            "IsTruthy": GoFunc("IsTruthy", _is_truthy, (_S,), Nature("bool", "bool")),
            "IsFalsy": GoFunc("IsFalsy", _is_falsy, (_S,), Nature("bool", "bool")),
        }
        unmarshal = GoFunc("Unmarshal", _json_unmarshal, (_S,), ANY)
        marshal = GoFunc("Marshal", _json_marshal, (ANY,), STRING)
        json_map: dict[str, object] = {
            "Unmarshal": unmarshal,
            "Marshal": marshal,
            "Sort": GoFunc("Sort", _json_sort, (ANY,), ANY),
            "Deserialize": unmarshal,
            "Serialize": marshal,
        }
        new_id = GoFunc("New", uid.new, (), STRING)
        uid_map: dict[str, object] = {"New": new_id}
        util_map: dict[str, object] = {
            "PrefixedOverride": GoFunc(
                "PrefixedOverride", _prefixed_override, (_S, _S), STRING, needs_ctx=True
            ),
            "Dump": GoFunc("Dump", self._dump, (_S, _S), STRING),
            "Nullable": GoFunc("Nullable", lambda s: "" if s is None else s, (STRING_PTR,), STRING),
            "SuffixInRange": GoFunc("SuffixInRange", _suffix_in_range, (_S, _S, _S, _S), STRING),
        }
        legacy: dict[str, object] = {**strings_map, **util_map}
        legacy["FromJson"] = unmarshal
        legacy["ToJson"] = marshal
        legacy["NewID"] = new_id
        legacy["strings"] = strings_map
        legacy["json"] = json_map
        legacy["uid"] = uid_map
        legacy["util"] = util_map
        return legacy

    def _dump(self, content: str, path: str) -> str:
        if not self.allow_dump or self.dump_dir is None:
            raise GoPanic("util.Dump is disabled: nomadctl writes no files from templates unless allowed")
        target = (self.dump_dir / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.dump_dir):
            raise GoPanic(f"util.Dump: {path} is outside the dump directory")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        except OSError as exc:
            # AliECS logs the failure and still returns the input
            log.warning("util.Dump could not write %s: %s", target, exc)
        return content

    # ------------------------------------------------------------ dpl (dplutil.go)

    def _dpl_functions(self) -> dict[str, object]:
        def call(method: str) -> Callable[[EvalContext, str], str]:
            def run(ctx: EvalContext, argument: str) -> str:
                if argument == "none":
                    raise GoPanic("dplCommand is 'none'")
                resolver: Any = self.dpl
                try:
                    result = getattr(resolver, method)(argument, ctx)
                except GoPanic:
                    raise
                except NomadctlError as exc:
                    raise GoPanic(exc.one_line()) from exc
                return str(result)

            return run

        def fn(name: str, method: str) -> GoFunc:
            return GoFunc(name, call(method), (_S,), STRING, needs_ctx=True, returns_error=True)

        return {
            "GenerateDplSubworkflow": fn("GenerateDplSubworkflow", "generate"),
            "GenerateDplSubworkflowFromUri": fn("GenerateDplSubworkflowFromUri", "generate_from_uri"),
            "dpl": {
                "Generate": fn("Generate", "generate"),
                "GenerateFromUri": fn("GenerateFromUri", "generate_from_uri"),
                "GenerateFromUriOrFallbackToTemplate": fn(
                    "GenerateFromUriOrFallbackToTemplate", "generate_from_uri_or_fallback"
                ),
            },
        }

    # ------------------------------------------------------------ config access (stack.go, stackutil.go)

    def _flat_config_functions(self) -> dict[str, object]:
        return {
            "GetConfigLegacy": GoFunc(
                "GetConfigLegacy", self.get_config_legacy, (_S,), STRING, needs_ctx=True
            ),
            "GetConfig": GoFunc("GetConfig", self.get_config, (_S,), STRING, needs_ctx=True),
            "ResolveConfigPath": GoFunc("ResolveConfigPath", self.resolve_config_path, (_S,), STRING),
            "DetectorForHost": GoFunc("DetectorForHost", self.detector_for_host, (_S,), STRING),
            "DetectorsForHosts": GoFunc("DetectorsForHosts", self.detectors_for_hosts, (_S,), STRING),
            "CRUCardsForHost": GoFunc("CRUCardsForHost", self.cru_cards_for_host, (_S,), STRING),
            "EndpointsForCRUCard": GoFunc(
                "EndpointsForCRUCard", self.endpoints_for_cru_card, (_S, _S), STRING
            ),
            "GetRuntimeConfig": GoFunc("GetRuntimeConfig", self.runtime_get, (_S, _S), STRING),
        }

    def _config_objects(self) -> dict[str, object]:
        return {
            "config": {
                "Get": GoFunc("Get", self.get_config, (_S,), STRING, needs_ctx=True),
                "GetLegacy": GoFunc("GetLegacy", self.get_config_legacy, (_S,), STRING, needs_ctx=True),
                "Resolve": GoFunc("Resolve", self.resolve_config, (_S, _S, _S, _S), STRING),
                "ResolvePath": GoFunc("ResolvePath", self.resolve_config_path, (_S,), STRING),
            },
            "inventory": {
                "DetectorForHost": GoFunc("DetectorForHost", self.detector_for_host, (_S,), STRING),
                "DetectorsForHosts": GoFunc("DetectorsForHosts", self.detectors_for_hosts, (_S,), STRING),
                "CRUCardsForHost": GoFunc("CRUCardsForHost", self.cru_cards_for_host, (_S,), STRING),
                "EndpointsForCRUCard": GoFunc(
                    "EndpointsForCRUCard", self.endpoints_for_cru_card, (_S, _S), STRING
                ),
            },
            "runtime": {
                "Get": GoFunc("Get", self.runtime_get, (_S, _S), STRING),
                "Set": GoFunc("Set", self.runtime_set, (_S, _S, _S), STRING),
            },
        }

    def _exists(self, key: str) -> bool:
        try:
            return self.kv.get(key) is not None
        except NomadctlError:
            return False

    def get_config(self, ctx: EvalContext, path: str) -> str:
        """``config.Get``: the payload at ``o2/components/<path>``, rendered with Jinja2."""
        try:
            query = parse_query(path)
        except QueryError as exc:
            return _error(str(exc))
        bindings: dict[str, object] = {k.strip(): v for k, v in ctx.variables.items()}
        bindings.update(_bind_for_python(self.util_map, ctx))
        try:
            return self._payloads.render(query, bindings)
        except PayloadError as exc:
            return _error(str(exc))
        except NomadctlError as exc:
            return _error(_kv_message(exc))

    def get_config_legacy(self, ctx: EvalContext, path: str) -> str:
        """``config.GetLegacy``: the raw payload, templated with the expr engine (errors ignored)."""
        try:
            query = parse_query(path)
        except QueryError as exc:
            return _error(str(exc))
        try:
            payload = self.kv.get(query.key())
        except NomadctlError as exc:
            return _error(_kv_message(exc))
        if payload is None:
            return _error(f"no payload at configuration path {query.key()}")
        try:
            legacy_ctx = EvalContext(variables=ctx.variables, library=self)
            return compile_template(payload).render(legacy_ctx)
        except ExpressionError:
            # Fields.Execute leaves the field untouched when a tag fails
            return payload

    def resolve_query(self, path_or_query: Any) -> str:
        query = path_or_query
        for candidate in (
            query,
            query.with_run_type("ANY"),
            query.with_role("any"),
            query.with_role("any").with_run_type("ANY"),
        ):
            if self._exists(candidate.key()):
                return str(candidate.path())
        return _error(f"could not resolve configuration path {query.key()}")

    def resolve_config(self, component: str, run_type: str, role: str, entry: str) -> str:
        """``config.Resolve``: the first existing of exact, RUNTYPE→ANY, role→any, ANY/any."""
        return self.resolve_query(
            ConfigQuery(component, run_type if run_type in RUN_TYPES else "NULL", role, entry)
        )

    def resolve_config_path(self, path: str) -> str:
        """``config.ResolvePath``."""
        try:
            query = parse_query(path)
        except QueryError as exc:
            return _error(str(exc))
        return self.resolve_query(query)

    def _detector_index(self) -> dict[str, str]:
        if self._detectors is None:
            index: dict[str, str] = {}
            for key in self.kv.keys("o2/hardware/detectors/"):
                # o2/hardware/detectors/<DET>/flps/<host>/ (a Consul folder key)
                parts = key.split("/")
                if len(parts) == 7:
                    index.setdefault(parts[5], parts[3])
            self._detectors = index
        return self._detectors

    def _detector(self, host: str) -> str:
        detector = self._detector_index().get(host)
        if detector is None:
            raise GoPanic(f"detector not found for host {host}")
        return detector

    def detector_for_host(self, host: str) -> str:
        """``inventory.DetectorForHost``."""
        try:
            return self._detector(host)
        except GoPanic as exc:
            return _error(exc.message)
        except NomadctlError as exc:
            return _error(_kv_message(exc))

    def detectors_for_hosts(self, hosts: str) -> str:
        """``inventory.DetectorsForHosts``: the sorted detectors of a JSON list of hosts, as JSON."""
        try:
            names = _unmarshal_strings(hosts)
        except GoPanic as exc:
            return _error(f"DetectorsForHosts function: {exc.message}")
        try:
            detectors = sorted({self._detector(host) for host in names})
        except GoPanic as exc:
            return _error(exc.message)
        except NomadctlError as exc:
            return _error(_kv_message(exc))
        return go_json(detectors)

    def _cards(self, host: str) -> list[dict[str, str]]:
        key = f"o2/hardware/flps/{host}/cards"
        text = self.kv.get(posixpath.normpath(key))
        if text is None:
            raise GoPanic(f"nil response for key {posixpath.normpath(key)}")
        return _unmarshal_cards(text)

    def cru_cards_for_host(self, host: str) -> str:
        """``inventory.CRUCardsForHost``: the JSON list of distinct card serials."""
        try:
            cards = self._cards(host)
        except GoPanic as exc:
            return f'["error: {exc.message}"]'
        except NomadctlError as exc:
            return f'["error: {_kv_message(exc)}"]'
        serials: list[str] = []
        for card in cards:
            if card["serial"] not in serials:
                serials.append(card["serial"])
        # Go marshals the nil slice of a host without cards as null
        return go_json(serials) if serials else "null"

    def endpoints_for_cru_card(self, host: str, serial: str) -> str:
        """``inventory.EndpointsForCRUCard``: the card's endpoints, space-separated."""
        try:
            cards = self._cards(host)
        except GoPanic as exc:
            return _error(exc.message)
        except NomadctlError as exc:
            return _error(_kv_message(exc))
        return " ".join(card["endpoint"] for card in cards if card["serial"] == serial)

    def _runtime_key(self, component: str, key: str) -> str:
        # filepath.Join cleans the path
        return posixpath.normpath(posixpath.join("o2/runtime", component, key))

    def runtime_get(self, component: str, key: str) -> str:
        """``runtime.Get``: ``o2/runtime/<component>/<key>``."""
        path = self._runtime_key(component, key)
        try:
            value = self.kv.get(path)
        except NomadctlError as exc:
            return _error(_kv_message(exc))
        if value is None:
            return _error(f"nil response for key {path}")
        return value

    def runtime_set(self, component: str, key: str, value: str) -> str:
        """``runtime.Set``: writes ``o2/runtime/<component>/<key>`` and returns ``value``."""
        path = self._runtime_key(component, key)
        if not path.startswith("o2/runtime/"):
            # AliECS would write wherever the cleaned path points; nomadctl keeps writes in o2/runtime
            return _error(f"runtime key {path} is outside o2/runtime")
        try:
            self.kv.put(path, value)
        except NomadctlError as exc:
            return _error(_kv_message(exc))
        return value

    # ------------------------------------------------------------ integration plugins

    def _default_plugins(self) -> dict[str, object]:
        return {
            "odc": {
                # core/integration/plugin.go: a dummy that always exists
                "GenerateEPNTopologyFullname": GoFunc("GenerateEPNTopologyFullname", lambda: "", (), STRING),
                "GenerateEPNWorkflowScript": GoFunc(
                    "GenerateEPNWorkflowScript", self.generate_epn_workflow_script, (), STRING, needs_ctx=True
                ),
            },
            "testplugin": {"test": "test_data"},
        }

    def _base_config(self) -> dict[str, str]:
        """The environment's Consul defaults + vars, without user input (ODC's baseConfigStack)."""
        config: dict[str, str] = {}
        for prefix in ("o2/runtime/aliecs/defaults/", "o2/runtime/aliecs/vars/"):
            try:
                for key in self.kv.keys(prefix):
                    value = self.kv.get(key)
                    name = key[len(prefix) :]
                    if value is not None and name and "/" not in name:
                        config[name] = value
            except NomadctlError as exc:
                log.warning("cannot read %s: %s", prefix, exc.one_line())
        return config

    def generate_epn_workflow_script(self, ctx: EvalContext) -> str:
        """``odc.GenerateEPNWorkflowScript()``: the EPN topology generator command line that the
        ODC plugin builds from the variables (``core/integration/odc/plugin.go``). Returns ``""``
        where the plugin gives up (a variable it needs is missing)."""
        env = ctx.variables
        env_id = env.get("environment_id")
        if env_id is None:
            # without an environment id the plugin contributes no object: the member is nil
            raise GoPanic("invalid operation: cannot call nil")
        config = self._base_config()
        parts: list[str] = []

        def need(name: str) -> str:
            value = env.get(name)
            if value is None:
                raise _GiveUp
            return value

        try:
            option = need("pdp_config_option")
            if option == "Repository hash":
                source = need("pdp_o2_data_processing_hash")
                if go_trim_space(source) == "default":
                    source = config.get("pdp_o2_data_processing_hash") or _give_up()
                parts.append("GEN_TOPO_HASH=1")
            elif option == "Repository path":
                source = need("pdp_o2_data_processing_path")
                parts.append("GEN_TOPO_HASH=0")
            else:
                return ""
            parts.append(f"GEN_TOPO_SOURCE='{go_trim_space(source)}'")
            parts.append(f"DDMODE='{go_trim_space(need('tfb_dd_mode'))}'")
            parts.append(
                f"GEN_TOPO_LIBRARY_FILE='{go_trim_space(need('pdp_topology_description_library_file'))}'"
            )
            parts.append(f"GEN_TOPO_WORKFLOW_NAME='{go_trim_space(need('pdp_workflow_name'))}'")
            detectors = need("pdp_detector_list_global")
            if go_trim_space(detectors) == "default":
                try:
                    names = _unmarshal_strings(need("detectors"))
                except GoPanic:
                    return ""
                if go_trim_space(env.get("ctp_readout_enabled", "")).lower() == "true":
                    names.append("TRG")
                detectors = ",".join(sorted(names))
            parts.append(f"WORKFLOW_DETECTORS='{go_trim_space(detectors)}'")
            parts.append(
                f"WORKFLOW_DETECTORS_EXCLUDE_QC='{go_trim_space(need('pdp_detector_exclude_list_qc'))}'"
            )
            parts.append(
                f"WORKFLOW_DETECTORS_EXCLUDE_CALIB='{go_trim_space(need('pdp_detector_exclude_list_calib'))}'"
            )
            parts.append(f"WORKFLOW_PARAMETERS='{go_trim_space(need('pdp_workflow_parameters'))}'")
            n_epns, ok = go_atoi(need("odc_n_epns"))
            if not ok:
                return ""
            parts.append(f"RECO_NUM_NODES_OVERRIDE={n_epns}")
            max_fail, ok = go_atoi(need("odc_n_epns_max_fail"))
            if not ok:
                return ""
            parts.append(f"RECO_MAX_FAIL_NODES_OVERRIDE={max_fail}")
            parts.append(
                f"MULTIPLICITY_FACTOR_RAWDECODERS={go_trim_space(need('pdp_raw_decoder_multi_factor'))}"
            )
            parts.append(
                f"MULTIPLICITY_FACTOR_CTFENCODERS={go_trim_space(need('pdp_ctf_encoder_multi_factor'))}"
            )
            parts.append(f"MULTIPLICITY_FACTOR_REST={go_trim_space(need('pdp_reco_process_multi_factor'))}")
            parts.append(f"BEAMTYPE='{go_trim_space(need('pdp_beam_type'))}'")
            parts.append(f"NHBPERTF={go_trim_space(need('pdp_n_hbf_per_tf'))}")
            parts.append("GEN_TOPO_ONTHEFLY=1")
            suite = need("pdp_o2pdpsuite_version")
            if go_trim_space(suite) == "default":
                suite = config.get("pdp_o2pdpsuite_version") or _give_up()
            parts.append(f"OVERRIDE_PDPSUITE_VERSION='{suite}'")
            # SET_QCJSON_VERSION comes straight from the QC runtime KV
            try:
                qc_hash = self.kv.get("o2/runtime/qc/config_hash")
            except NomadctlError:
                return ""
            if qc_hash is None:
                return ""
            parts.append(f"SET_QCJSON_VERSION='{qc_hash}'")
            parts.append(f"DD_DISK_FRACTION='{need('epn_store_raw_data_fraction')}'")
            parts.append(f"SHM_MANAGER_SHMID='{need('pdp_epn_shmid')}'")
            parts.append(f"RUNTYPE={go_trim_space(env.get('run_type', 'NONE'))}")
            parts.append(f"FLP_IDS='{','.join(_flp_ids(env.get('hosts')))}'")
            setup = go_trim_space(env.get("setup_name", "UNKNOWN")).replace(" ", "_")
            parts.append(f"GEN_TOPO_DEPLOYMENT_TYPE={setup}")
            parts.append(go_trim_space(need("pdp_extra_env_vars")))
            parts.append(go_trim_space(need("pdp_epn_shm_sizes")))
            parts.append(go_trim_space(need("pdp_generator_script_path")))
        except _GiveUp:
            return ""
        out = " ".join(parts)
        digest = hashlib.md5(out.encode(), usedforsecurity=False).hexdigest()
        out = f"GEN_TOPO_CACHE_HASH={digest} {out}"
        wipe = _parse_bool(env.get("pdp_wipe_workflow_cache", "false"))
        out = f"GEN_TOPO_WIPE_CACHE={1 if wipe else 0} {out}"
        return f"ECS_ENVIRONMENT_ID={env_id} {out}"


class _GiveUp(Exception):
    """The ODC plugin logs an error and returns an empty string."""


def _give_up() -> str:
    raise _GiveUp


def _flp_ids(hosts: str | None) -> list[str]:
    """ODC ``getFlpIdList``: production FLP numbers, staging ones prefixed with ``S``."""
    if hosts is None:
        return []
    try:
        names = _unmarshal_strings(hosts)
    except GoPanic:
        return []
    ids: list[str] = []
    for host in names:
        if host.startswith("alio2-cr1-flp"):
            suffix = host.removeprefix("alio2-cr1-flp")
            if suffix:
                ids.append(suffix)
        elif host.startswith("alio2-cr1-mvs"):
            suffix = host.removeprefix("alio2-cr1-mvs")
            if suffix:
                ids.append("S" + suffix)
    return ids


# ---------------------------------------------------------------- util functions


def _is_truthy(text: str) -> bool:
    return go_trim_space(text.lower()) in ("true", "yes", "y", "1", "on", "ok")


def _is_falsy(text: str) -> bool:
    value = go_trim_space(text.lower())
    return value == "" or value in ("false", "no", "n", "0", "off", "none")


def _json_unmarshal(text: str) -> object:
    try:
        return go_parse_json(text)
    except GoPanic as exc:
        log.warning("error unmarshaling JSON/YAML in template system: %s", exc.message)
        return None


def _json_marshal(value: object) -> str:
    try:
        return go_json(value)
    except JsonError as exc:
        log.warning("error marshaling JSON/YAML in template system: %s", exc)
        return ""


def _json_sort(value: object) -> object:
    if isinstance(value, list) and type(value) is not IntList:
        return sorted(go_value(item) for item in value)
    return value


def _prefixed_override(ctx: EvalContext, varname: str, prefix: str) -> str:
    variables = ctx.variables
    prefixed = variables.get(prefix + "_" + varname)
    fallback = variables.get(varname)
    if prefixed is not None and (prefixed == "none" or not go_trim_space(prefixed)):
        prefixed = None
    if fallback is not None and (fallback == "none" or not go_trim_space(fallback)):
        fallback = None
    if prefixed is not None:
        return prefixed
    return fallback if fallback is not None else ""


def _suffix_in_range(text: str, prefix: str, low: str, high: str) -> str:
    trimmed = text.removeprefix(prefix)
    if trimmed == text:
        return "false"
    number, ok = go_atoi(trimmed)
    if not ok:
        return "false"
    low_number, ok = go_atoi(low)
    if not ok:
        log.error("Argument idMinStr to SuffixInRange is not a number: %s", low)
        return "false"
    high_number, ok = go_atoi(high)
    if not ok:
        log.error("Argument idMaxStr to SuffixInRange is not a number: %s", high)
        return "false"
    return "true" if low_number <= number <= high_number else "false"


def _bind_for_python(value: object, ctx: EvalContext) -> Any:
    """The util map for Jinja2: functions that read the caller's variables get them bound."""
    if isinstance(value, GoFunc):
        if value.needs_ctx:
            fn = value

            def bound(*args: object) -> object:
                return fn.invoke(ctx, list(args))

            return bound
        return value
    if isinstance(value, Mapping):
        return {k: _bind_for_python(v, ctx) for k, v in value.items()}
    return value
