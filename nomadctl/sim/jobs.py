"""Nomad job payloads as the agent treats them: decode, canonicalize, validate, parse, diff.

What happens to a ``POST /v1/jobs`` body in a real agent (``command/agent/job_endpoint.go``):
``encoding/json`` decodes it into ``api.Job`` (keys matched case-insensitively, unknown keys
dropped, wrong JSON types rejected with 400), ``api.Job.Canonicalize`` fills defaults (restart and
reschedule policies by job type, update/migrate merged into groups, task resources, log config),
then the server validates (``structs.Job.Validate``: errors as ``go-multierror`` text). This module
does the same to plain dicts, then parses the result into the frozen ``JobSpec`` the scheduler and
the client simulation read. The stored job is the canonical dict, kept once per version.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nomadctl.sim import wire

# Field tables from nomad ``api/*.go`` (field names only). Types: s string, i int, b bool,
# d duration (int64 ns), f float, ls list of strings, m map[string]string, * anything (kept),
# {X} one X, [X] list of X.
_SCHEMA_TEXT = {
    "Job": "Region:s Namespace:s ID:s Name:s Type:s Priority:i AllAtOnce:b Datacenters:ls NodePool:s "
    "Constraints:[Constraint] Affinities:[Affinity] TaskGroups:[TaskGroup] Update:{UpdateStrategy} "
    "Multiregion:* Spreads:[Spread] Periodic:{PeriodicConfig} ParameterizedJob:{ParameterizedJobConfig} "
    "Reschedule:{ReschedulePolicy} Migrate:{MigrateStrategy} Meta:m UI:* Stop:b ParentID:s Dispatched:b "
    "DispatchIdempotencyToken:s Payload:* ConsulNamespace:s VaultNamespace:s NomadTokenID:s Status:s "
    "StatusDescription:s Stable:b Version:i SubmitTime:i CreateIndex:i ModifyIndex:i JobModifyIndex:i "
    "VersionTag:*",
    "TaskGroup": "Name:s Count:i Constraints:[Constraint] Affinities:[Affinity] Tasks:[Task] "
    "Spreads:[Spread] Volumes:* RestartPolicy:{RestartPolicy} Disconnect:{DisconnectStrategy} "
    "ReschedulePolicy:{ReschedulePolicy} EphemeralDisk:{EphemeralDisk} Update:{UpdateStrategy} "
    "Migrate:{MigrateStrategy} Networks:[NetworkResource] Meta:m Services:[Service] ShutdownDelay:d "
    "MaxRunDuration:d StopAfterClientDisconnect:d MaxClientDisconnect:d Scaling:{ScalingPolicy} Consul:* "
    "PreventRescheduleOnLost:b",
    "Task": "Name:s Driver:s User:s Lifecycle:{TaskLifecycle} Config:* Constraints:[Constraint] "
    "Affinities:[Affinity] Env:m Services:[Service] Resources:{Resources} RestartPolicy:{RestartPolicy} "
    "Meta:m KillTimeout:d LogConfig:{LogConfig} Artifacts:* Vault:{Vault} Consul:* Templates:[Template] "
    "DispatchPayload:* VolumeMounts:* CSIPluginConfig:* Leader:b ShutdownDelay:d KillSignal:s Kind:s "
    "ScalingPolicies:* Secrets:* Identity:* Identities:* Actions:* Schedule:*",
    "Resources": "CPU:i Cores:i MemoryMB:i MemoryMaxMB:i DiskMB:i Networks:[NetworkResource] "
    "Devices:[RequestedDevice] NUMA:* SecretsMB:i IOPS:i",
    "RequestedDevice": "Name:s Count:i Constraints:[Constraint] Affinities:[Affinity]",
    "Constraint": "LTarget:s RTarget:s Operand:s",
    "Affinity": "LTarget:s RTarget:s Operand:s Weight:i",
    "Spread": "Attribute:s Weight:i SpreadTarget:*",
    "UpdateStrategy": "Stagger:d MaxParallel:i HealthCheck:s MinHealthyTime:d HealthyDeadline:d "
    "ProgressDeadline:d Canary:i AutoRevert:b AutoPromote:b",
    "RestartPolicy": "Interval:d Attempts:i Delay:d Mode:s RenderTemplates:b",
    "ReschedulePolicy": "Attempts:i Interval:d Delay:d DelayFunction:s MaxDelay:d Unlimited:b",
    "MigrateStrategy": "MaxParallel:i HealthCheck:s MinHealthyTime:d HealthyDeadline:d",
    "DisconnectStrategy": "LostAfter:d StopOnClientAfter:d Replace:b Reconcile:s",
    "EphemeralDisk": "Sticky:b Migrate:b SizeMB:i",
    "NetworkResource": "Mode:s Device:s CIDR:s IP:s DNS:* ReservedPorts:[Port] DynamicPorts:[Port] "
    "Hostname:s MBits:i CNI:*",
    "Port": "Label:s Value:i To:i HostNetwork:s IgnoreCollision:b",
    "Service": "Name:s Tags:ls CanaryTags:ls EnableTagOverride:b PortLabel:s AddressMode:s Address:s "
    "Checks:[ServiceCheck] CheckRestart:* Connect:* Meta:m CanaryMeta:m TaggedAddresses:m TaskName:s "
    "OnUpdate:s Identity:* Weights:* Provider:s Cluster:s Kind:s",
    "ServiceCheck": "Name:s Type:s Command:s Args:ls Path:s Protocol:s PortLabel:s Expose:b AddressMode:s "
    "Advertise:s Interval:d Timeout:d InitialStatus:s Notes:s TLSServerName:s TLSSkipVerify:b Header:* "
    "Method:s CheckRestart:* GRPCService:s GRPCUseTLS:b TaskName:s SuccessBeforePassing:i "
    "FailuresBeforeCritical:i FailuresBeforeWarning:i Body:s OnUpdate:s",
    "TaskLifecycle": "Hook:s Sidecar:b",
    "LogConfig": "MaxFiles:i MaxFileSizeMB:i Enabled:b Disabled:b",
    "Template": "SourcePath:s DestPath:s EmbeddedTmpl:s ChangeMode:s ChangeScript:* ChangeSignal:s Once:b "
    "Splay:d Perms:s Uid:i Gid:i LeftDelim:s RightDelim:s Envvars:b VaultGrace:d Wait:* ErrMissingKey:b",
    "Vault": "Policies:ls Role:s Namespace:s Cluster:s Env:b DisableFile:b ChangeMode:s ChangeSignal:s "
    "AllowTokenExpiration:b",
    "PeriodicConfig": "Enabled:b Spec:s Specs:ls SpecType:s ProhibitOverlap:b TimeZone:s",
    "ParameterizedJobConfig": "Payload:s MetaRequired:ls MetaOptional:ls",
    "ScalingPolicy": "Min:i Max:i Policy:* Enabled:b Type:s ID:s Namespace:s Target:m CreateIndex:i "
    "ModifyIndex:i",
}
SCHEMA: dict[str, dict[str, str]] = {
    name: dict(f.split(":", 1) for f in text.split()) for name, text in _SCHEMA_TEXT.items()
}
_GO_TYPES = {
    "s": "string",
    "i": "int",
    "b": "bool",
    "d": "time.Duration",
    "f": "float64",
    "ls": "[]string",
    "m": "map[string]string",
}

JOB_TYPES = ("service", "batch", "system", "sysbatch")
CONSTRAINT_OPERANDS = frozenset(
    {
        "=",
        "==",
        "is",
        "!=",
        "not",
        "<",
        "<=",
        ">",
        ">=",
        "regexp",
        "set_contains",
        "set_contains_all",
        "set_contains_any",
        "version",
        "semver",
        "is_set",
        "is_not_set",
        "distinct_hosts",
        "distinct_property",
    }
)
SEC = 1_000_000_000


class DecodeError(Exception):
    """The body does not decode into the Go structs (HTTP 400, Go's message)."""


def _json_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _type_error(v: Any, struct: str, path: str, gotype: str) -> DecodeError:
    return DecodeError(
        f"json: cannot unmarshal {_json_type(v)} into Go struct field {struct}.{path} of type {gotype}"
    )


def decode(value: Any, struct: str, path: str = "") -> Any:
    """Decode ``value`` into ``struct`` the way ``encoding/json`` would; raises ``DecodeError``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _type_error(value, struct, path or struct, f"api.{struct}")
    fields = SCHEMA[struct]
    out: dict[str, Any] = {}
    for key, v in wire.fold(value, fields).items():
        out[key] = _decode_field(v, fields[key], struct, f"{path}.{key}" if path else key)
    return out


def _decode_field(v: Any, kind: str, struct: str, path: str) -> Any:
    if v is None or kind == "*":
        return v
    if kind.startswith("{"):
        return decode(v, kind[1:-1], path)
    if kind.startswith("["):
        if not isinstance(v, list):
            raise _type_error(v, struct, path, f"[]*api.{kind[1:-1]}")
        return [decode(item, kind[1:-1], path) for item in v]
    gotype = _GO_TYPES[kind]
    ok = {
        "s": isinstance(v, str),
        "i": isinstance(v, (int, float)) and not isinstance(v, bool),
        "d": isinstance(v, (int, float)) and not isinstance(v, bool),
        "f": isinstance(v, (int, float)) and not isinstance(v, bool),
        "b": isinstance(v, bool),
        "ls": isinstance(v, list) and all(isinstance(x, str) for x in v),
        "m": isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    }[kind]
    if not ok:
        raise _type_error(v, struct, path, gotype)
    if kind in ("i", "d"):
        if isinstance(v, float) and not v.is_integer():
            raise _type_error(v, struct, path, gotype)
        return int(v)
    return v


# ---------------------------------------------------------------------------------------------
# Canonicalization (api.Job.Canonicalize and the server's admission mutators)


def _restart_default(job_type: str) -> dict[str, Any]:
    if job_type in ("service", "system"):
        return {
            "Interval": 1800 * SEC,
            "Attempts": 2,
            "Delay": 15 * SEC,
            "Mode": "fail",
            "RenderTemplates": False,
        }
    return {
        "Interval": 86400 * SEC,
        "Attempts": 3,
        "Delay": 15 * SEC,
        "Mode": "fail",
        "RenderTemplates": False,
    }


def _reschedule_default(job_type: str) -> dict[str, Any]:
    if job_type == "service":
        return {
            "Attempts": 0,
            "Interval": 0,
            "Delay": 30 * SEC,
            "DelayFunction": "exponential",
            "MaxDelay": 3600 * SEC,
            "Unlimited": True,
        }
    if job_type == "batch":
        return {
            "Attempts": 1,
            "Interval": 86400 * SEC,
            "Delay": 5 * SEC,
            "DelayFunction": "constant",
            "MaxDelay": 0,
            "Unlimited": False,
        }
    return {"Attempts": 0, "Interval": 0, "Delay": 0, "DelayFunction": "", "MaxDelay": 0, "Unlimited": False}


_UPDATE_DEFAULT = {
    "Stagger": 30 * SEC,
    "MaxParallel": 1,
    "HealthCheck": "checks",
    "MinHealthyTime": 10 * SEC,
    "HealthyDeadline": 300 * SEC,
    "ProgressDeadline": 600 * SEC,
    "Canary": 0,
    "AutoRevert": False,
    "AutoPromote": False,
}
_MIGRATE_DEFAULT = {
    "MaxParallel": 1,
    "HealthCheck": "checks",
    "MinHealthyTime": 10 * SEC,
    "HealthyDeadline": 300 * SEC,
}


def _merge(default: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict[str, Any]:
    out = dict(default)
    for k, v in (given or {}).items():
        if v is not None:
            out[k] = v
    return out


def canonicalize(job: dict[str, Any]) -> dict[str, Any]:
    """Fill server-side defaults into a decoded job (a new dict; the input is not changed)."""
    j = dict(job)
    jid = j.get("ID") or ""
    j["ID"] = jid
    j["Name"] = j.get("Name") or jid
    j.setdefault("ParentID", "")
    j["ParentID"] = j["ParentID"] or ""
    j["Namespace"] = j.get("Namespace") or "default"
    j["Region"] = j.get("Region") or "global"
    j["Type"] = j.get("Type") or "service"
    if j.get("Priority") is None:
        j["Priority"] = 50
    j["AllAtOnce"] = bool(j.get("AllAtOnce"))
    if not j.get("Datacenters"):
        j["Datacenters"] = ["*"]
    j["NodePool"] = j.get("NodePool") or "default"
    for key in (
        "ConsulNamespace",
        "VaultNamespace",
        "NomadTokenID",
        "StatusDescription",
        "DispatchIdempotencyToken",
    ):
        j[key] = j.get(key) or ""
    for key in ("Stop", "Dispatched", "Stable"):
        j[key] = bool(j.get(key))
    for key in ("Constraints", "Affinities", "Spreads", "Meta", "Periodic", "ParameterizedJob", "Payload"):
        j.setdefault(key, None)
    jtype = j["Type"]
    job_update = j.get("Update")
    if jtype in ("service", "system"):
        # api.Job.Canonicalize: a service/system job without an update block gets the default one
        # (so its groups get deployments); a given block is completed with the defaults.
        j["Update"] = _merge(_UPDATE_DEFAULT, job_update)
    else:
        j.setdefault("Update", None)
    job_reschedule = j.pop("Reschedule", None)
    job_migrate = j.pop("Migrate", None)
    groups = []
    for g in j.get("TaskGroups") or []:
        groups.append(_canon_group(dict(g or {}), jtype, j.get("Update"), job_reschedule, job_migrate))
    j["TaskGroups"] = groups
    return j


def _canon_group(
    g: dict[str, Any],
    jtype: str,
    job_update: Mapping[str, Any] | None,
    job_reschedule: Mapping[str, Any] | None,
    job_migrate: Mapping[str, Any] | None,
) -> dict[str, Any]:
    g["Name"] = g.get("Name") or ""
    if g.get("Count") is None:
        scaling = g.get("Scaling") or {}
        g["Count"] = scaling.get("Min") if scaling.get("Min") is not None else 1
    g["EphemeralDisk"] = _merge({"Sticky": False, "Migrate": False, "SizeMB": 300}, g.get("EphemeralDisk"))
    if jtype in ("service", "system") and (g.get("Update") is not None or job_update is not None):
        g["Update"] = _merge(_merge(_UPDATE_DEFAULT, job_update), g.get("Update"))
    else:
        g.setdefault("Update", None)
    if jtype in ("system", "sysbatch"):
        g.setdefault("ReschedulePolicy", None)
    else:
        g["ReschedulePolicy"] = _merge(
            _merge(_reschedule_default(jtype), job_reschedule), g.get("ReschedulePolicy")
        )
    if jtype == "service":
        g["Migrate"] = _merge(_merge(_MIGRATE_DEFAULT, job_migrate), g.get("Migrate"))
    else:
        g.setdefault("Migrate", None)
    g["RestartPolicy"] = _merge(_restart_default(jtype), g.get("RestartPolicy"))
    if g.get("Disconnect") is not None:
        g["Disconnect"] = _merge(
            {"LostAfter": 0, "StopOnClientAfter": None, "Replace": True, "Reconcile": "best_score"},
            g["Disconnect"],
        )
    for key in ("Constraints", "Affinities", "Spreads", "Volumes", "Networks", "Meta", "Services", "Scaling"):
        g.setdefault(key, None)
    for key in ("ShutdownDelay", "MaxRunDuration", "StopAfterClientDisconnect", "MaxClientDisconnect"):
        g.setdefault(key, None)
    g["Services"] = [_canon_service(dict(s or {})) for s in g["Services"]] if g["Services"] else g["Services"]
    g["Tasks"] = [_canon_task(dict(t or {}), g["RestartPolicy"]) for t in g.get("Tasks") or []]
    return g


def _canon_task(t: dict[str, Any], group_restart: Mapping[str, Any]) -> dict[str, Any]:
    t["Name"] = t.get("Name") or ""
    t["Driver"] = t.get("Driver") or ""
    t.setdefault("User", "")
    t["User"] = t["User"] or ""
    res = dict(t.get("Resources") or {})
    res["CPU"] = 100 if res.get("CPU") is None else res["CPU"]
    res["Cores"] = res.get("Cores") or 0
    res["MemoryMB"] = 300 if res.get("MemoryMB") is None else res["MemoryMB"]
    res["MemoryMaxMB"] = res.get("MemoryMaxMB") or 0
    res.setdefault("DiskMB", None)
    res.setdefault("Networks", None)
    res.setdefault("Devices", None)
    res.setdefault("NUMA", None)
    if res["Devices"]:
        res["Devices"] = [{"Count": 1, "Constraints": None, "Affinities": None, **d} for d in res["Devices"]]
        for d in res["Devices"]:
            if d["Count"] is None:
                d["Count"] = 1
    t["Resources"] = res
    t["RestartPolicy"] = _merge(group_restart, t.get("RestartPolicy"))
    if t.get("KillTimeout") is None:
        t["KillTimeout"] = 5 * SEC
    t["LogConfig"] = _merge({"MaxFiles": 10, "MaxFileSizeMB": 10, "Disabled": False}, t.get("LogConfig"))
    t["Leader"] = bool(t.get("Leader"))
    t["ShutdownDelay"] = t.get("ShutdownDelay") or 0
    t["KillSignal"] = t.get("KillSignal") or ""
    t["Kind"] = t.get("Kind") or ""
    lc = t.get("Lifecycle")
    if lc is not None and not lc.get("Hook"):
        lc = None  # Nomad drops an empty lifecycle block
    t["Lifecycle"] = lc
    for key in (
        "Config",
        "Constraints",
        "Affinities",
        "Env",
        "Services",
        "Meta",
        "Artifacts",
        "Vault",
        "Templates",
    ):
        t.setdefault(key, None)
    if t["Services"]:
        t["Services"] = [_canon_service(dict(s or {}), task=t["Name"]) for s in t["Services"]]
    return t


def _canon_service(s: dict[str, Any], task: str = "") -> dict[str, Any]:
    s["Provider"] = s.get("Provider") or "consul"
    s["AddressMode"] = s.get("AddressMode") or "auto"
    s["OnUpdate"] = s.get("OnUpdate") or "require_healthy"
    s["PortLabel"] = s.get("PortLabel") or ""
    s["TaskName"] = s.get("TaskName") or task
    s.setdefault("Tags", None)
    s.setdefault("Meta", None)
    checks = []
    for raw in s.get("Checks") or []:
        c = dict(raw or {})
        c["OnUpdate"] = c.get("OnUpdate") or "require_healthy"
        c["InitialStatus"] = c.get("InitialStatus") or ""
        c["PortLabel"] = c.get("PortLabel") or ""
        checks.append(c)
    s["Checks"] = checks or None
    return s


# ---------------------------------------------------------------------------------------------
# Validation (structs.Job.Validate): a list of top-level error strings, nested as Nomad nests them

_SERVICE_NAME = re.compile(r"^(?i:[a-z0-9]|[a-z0-9][a-z0-9\-]{0,61}[a-z0-9])$")
_INTERP = re.compile(r"\$\{[^}]*\}")


def _constraint_errors(c: Mapping[str, Any]) -> list[str]:
    op = c.get("Operand") or ""
    errs: list[str] = []
    if op not in CONSTRAINT_OPERANDS:
        return [f"Unknown constraint type {op!r}"]
    requires_l = op not in ("distinct_hosts",)
    if requires_l and not c.get("LTarget"):
        errs.append("No LTarget provided but is required by constraint")
    if op == "regexp":
        try:
            re.compile(c.get("RTarget") or "")
        except re.error as e:
            errs.append(f"Regular expression failed to compile: {e}")
    if op in ("set_contains", "set_contains_all", "set_contains_any") and not c.get("RTarget"):
        errs.append("Set contains constraint requires an RTarget")
    if op == "distinct_property" and c.get("RTarget"):
        rt = c["RTarget"]
        if not rt.isdigit() or int(rt) < 1:
            errs.append(f"Failed to convert RTarget {rt!r} to uint64")
    if op == "distinct_hosts" and c.get("RTarget") not in (None, "", "true", "false", "1", "0"):
        errs.append(f"Failed to parse distinct_hosts RTarget {c.get('RTarget')!r}")
    return errs


def _nest(prefix: str, errs: list[str]) -> str:
    return f"{prefix}: {wire.multierror(errs)}"


def validate(job: Mapping[str, Any]) -> list[str]:
    """The errors ``structs.Job.Validate`` reports for a canonical job (empty when valid)."""
    errs: list[str] = []
    jid = job.get("ID") or ""
    if not job.get("Region"):
        errs.append("Missing job region")
    if not jid:
        errs.append("Missing job ID")
    elif " " in jid:
        errs.append("Job ID contains a space")
    elif "\x00" in jid:
        errs.append("Job ID contains a null character")
    if not job.get("Name"):
        errs.append("Missing job name")
    if not job.get("Namespace"):
        errs.append("Job must be in a namespace")
    jtype = job.get("Type") or ""
    if not jtype:
        errs.append("Missing job type")
    elif jtype not in JOB_TYPES:
        errs.append(f"Invalid job type: {jtype!r}".replace("'", '"'))
    prio = job.get("Priority", 50)
    if not 1 <= prio <= 100:
        errs.append("Job priority must be between [1, 100]")
    dcs = job.get("Datacenters") or []
    if not dcs:
        errs.append("Missing job datacenters")
    elif any(not dc for dc in dcs):
        errs.append("Job datacenter must be non-empty string")
    groups = job.get("TaskGroups") or []
    if not groups:
        errs.append("Missing job task groups")
    for idx, c in enumerate(job.get("Constraints") or []):
        cerrs = _constraint_errors(c)
        if cerrs:
            errs.append(f"Constraint {idx + 1} validation failed: {wire.multierror(cerrs)}")
    seen: dict[str, int] = {}
    for idx, g in enumerate(groups):
        name = g.get("Name") or ""
        if not name:
            errs.append(f"Job task group {idx + 1} missing name")
        elif name in seen:
            errs.append(f"Job task group {idx + 1} redefines '{name}' from group {seen[name] + 1}")
        else:
            seen[name] = idx
        if jtype == "system" and (g.get("Count") or 0) > 1:
            errs.append(
                f"Job task group {name} has count {g['Count']}. Count cannot exceed 1 with system scheduler"
            )
    for g in groups:
        gerrs = _group_errors(g, jtype)
        if gerrs:
            errs.append(_nest(f"Task group {g.get('Name') or ''} validation failed", gerrs))
    periodic = job.get("Periodic")
    if periodic and periodic.get("Enabled", True) and jtype not in ("batch", "sysbatch"):
        errs.append('Periodic can only be used with "batch" or "sysbatch" scheduler')
    if job.get("ParameterizedJob") is not None and jtype not in ("batch", "sysbatch"):
        errs.append('Parameterized job can only be used with "batch" or "sysbatch" scheduler')
    return errs


def _group_errors(g: Mapping[str, Any], jtype: str) -> list[str]:
    errs: list[str] = []
    name = g.get("Name") or ""
    if not name:
        errs.append("Missing task group name")
    if (g.get("Count") or 0) < 0:
        errs.append("Task group count can't be negative")
    tasks = g.get("Tasks") or []
    if not tasks:
        errs.append("Missing tasks for task group")
    if g.get("MaxRunDuration") is not None:
        if g["MaxRunDuration"] <= 0:
            errs.append("MaxRunDuration must be greater than zero")
        if jtype not in ("batch", "sysbatch"):
            errs.append(f'Job type "{jtype}" does not allow max_run_duration')
    for idx, c in enumerate(g.get("Constraints") or []):
        cerrs = _constraint_errors(c)
        if cerrs:
            errs.append(f"Constraint {idx + 1} validation failed: {wire.multierror(cerrs)}")
    rp = g.get("RestartPolicy")
    if rp is None:
        errs.append(f"Task Group {name} should have a restart policy")
    else:
        rerrs = []
        if rp.get("Mode") not in ("delay", "fail"):
            rerrs.append(f"Unsupported restart mode: {rp.get('Mode')!r}".replace("'", '"'))
        if (rp.get("Attempts") or 0) > 0 and (rp.get("Interval") or 0) < (rp.get("Delay") or 0):
            rerrs.append(
                f"Nomad can't restart the TaskGroup {(rp.get('Delay') or 0) / SEC:g}s after it restarted,"
                f" the interval is only {(rp.get('Interval') or 0) / SEC:g}s"
            )
        if rerrs:
            errs.append(f"Restart policy validation failed: {wire.multierror(rerrs)}")
    if jtype in ("system", "sysbatch") and g.get("ReschedulePolicy") is not None:
        errs.append("System or sysbatch jobs should not have a reschedule policy")
    if jtype in ("batch", "sysbatch") and g.get("Update") is not None:
        errs.append(f'Job type "{jtype}" does not allow update block')
    if jtype != "service" and g.get("Migrate") is not None:
        errs.append(f'Job type "{jtype}" does not allow migrate block')
    seen: dict[str, int] = {}
    leaders = 0
    mains = 0
    for idx, t in enumerate(tasks):
        tname = t.get("Name") or ""
        if not tname:
            errs.append(f"Task {idx + 1} missing name")
        elif tname in seen:
            errs.append(f"Task {idx + 1} redefines '{tname}' from task {seen[tname] + 1}")
        else:
            seen[tname] = idx
        leaders += bool(t.get("Leader"))
        if not t.get("Lifecycle"):
            mains += 1
    if leaders > 1:
        errs.append("Only one task may be marked as leader")
    if tasks and not mains:
        errs.append(f"Task group {name} must have at least one main task")
    port_labels = set()
    for net in g.get("Networks") or []:
        for p in (net.get("DynamicPorts") or []) + (net.get("ReservedPorts") or []):
            port_labels.add(p.get("Label") or "")
    serrs: list[str] = []
    for s in g.get("Services") or []:
        serrs.extend(_service_errors(s, port_labels, group_level=True))
    if serrs:
        errs.append(f"Task group service validation failed: {wire.multierror(serrs)}")
    for t in tasks:
        terrs = _task_errors(t, port_labels)
        if terrs:
            errs.append(_nest(f"Task {t.get('Name') or ''} validation failed", terrs))
    return errs


def _service_errors(s: Mapping[str, Any], port_labels: set[str], *, group_level: bool) -> list[str]:
    errs: list[str] = []
    sname = s.get("Name") or ""
    if not _SERVICE_NAME.match(_INTERP.sub("a", sname)):
        errs.append(
            "Service name must be valid per RFC 1123 and can contain only alphanumeric characters"
            f' or dashes: "{sname}"'
        )
    label = s.get("PortLabel") or ""
    if label and not label.isdigit() and label not in port_labels:
        errs.append(f'Port label "{label}" referenced by services {sname} does not exist')
    for c in s.get("Checks") or []:
        ctype = c.get("Type") or ""
        if ctype not in ("http", "tcp", "grpc", "script"):
            errs.append(f"Check {c.get('Name') or ''} invalid: invalid type ({ctype})")
        elif ctype in ("http", "tcp", "grpc") and not (c.get("PortLabel") or label):
            errs.append(f"Check {c.get('Name') or ''} invalid: check requires a port")
        elif ctype == "script" and group_level and not c.get("TaskName"):
            errs.append(f"Check {c.get('Name') or ''} invalid: group level script check requires task name")
    del group_level
    return errs


def _task_errors(t: Mapping[str, Any], port_labels: set[str]) -> list[str]:
    errs: list[str] = []
    name = t.get("Name") or ""
    if not name:
        errs.append("Missing task name")
    elif name == "alloc":
        errs.append('Task cannot be named "alloc"')
    elif "/" in name:
        errs.append("Task name cannot include slashes")
    if not t.get("Driver"):
        errs.append("Missing task driver")
    if (t.get("KillTimeout") or 0) < 0:
        errs.append("KillTimeout must be a positive value")
    res = t.get("Resources")
    if res is None:
        errs.append("Missing task resources")
    else:
        rerrs = []
        if res.get("CPU", 0) < 1 and not res.get("Cores"):
            rerrs.append(f"minimum CPU value is 1; got {res.get('CPU', 0)}")
        if res.get("MemoryMB", 0) < 10:
            rerrs.append(f"minimum MemoryMB value is 10; got {res.get('MemoryMB', 0)}")
        # 0 and -1 (MemoryNoLimit) are sentinels, as in Nomad's Resources.Validate
        if res.get("MemoryMaxMB") not in (None, 0, -1) and res["MemoryMaxMB"] < res.get("MemoryMB", 0):
            rerrs.append(
                f"MemoryMaxMB value ({res['MemoryMaxMB']}) should be larger than"
                f" MemoryMB value ({res.get('MemoryMB')})"
            )
        for d in res.get("Devices") or []:
            if not d.get("Name"):
                rerrs.append(
                    "device name must be given as one of the following:"
                    " type, vendor/type, or vendor/type/name"
                )
        if rerrs:
            errs.append(wire.multierror(rerrs))
    for idx, c in enumerate(t.get("Constraints") or []):
        if c.get("Operand") in ("distinct_hosts", "distinct_property"):
            errs.append(
                f"Constraint {idx + 1} validation failed:"
                f" {c['Operand']} constraint can not be set at task level"
            )
            continue
        cerrs = _constraint_errors(c)
        if cerrs:
            errs.append(f"Constraint {idx + 1} validation failed: {wire.multierror(cerrs)}")
    lc = t.get("Lifecycle")
    if lc and lc.get("Hook") not in ("prestart", "poststart", "poststop"):
        errs.append(f"invalid hook: {lc.get('Hook')}")
    dests: set[str] = set()
    for tmpl in t.get("Templates") or []:
        dest = tmpl.get("DestPath") or ""
        if dest in dests:
            errs.append(f"Template {dest!r} has a duplicate destination".replace("'", '"'))
        dests.add(dest)
    serrs: list[str] = []
    for s in t.get("Services") or []:
        serrs.extend(_service_errors(s, port_labels, group_level=False))
    if serrs:
        errs.append(f"Task services validation failed: {wire.multierror(serrs)}")
    return errs


def warnings(job: Mapping[str, Any]) -> str:
    """Nomad's non-fatal warnings, joined as its ``Warnings`` string."""
    out: list[str] = []
    for g in job.get("TaskGroups") or []:
        upd = g.get("Update")
        if upd and upd.get("MaxParallel", 0) > (g.get("Count") or 0) and (g.get("Count") or 0) > 0:
            out.append(
                f"Group {g['Name']!r}: Update max parallel count is greater than task group count".replace(
                    "'", '"'
                )
            )
    return wire.multierror(out) if out else ""


# ---------------------------------------------------------------------------------------------
# Parsed, frozen views for the scheduler and the client simulation


@dataclass(frozen=True, slots=True)
class Constraint:
    """A feasibility constraint; ``text`` is Nomad's ``Constraint.String()`` used in metrics."""

    ltarget: str
    rtarget: str
    operand: str

    @property
    def text(self) -> str:
        return f"{self.ltarget} {self.operand} {self.rtarget}"


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    name: str
    count: int
    constraints: tuple[Constraint, ...]


@dataclass(frozen=True, slots=True)
class RestartSpec:
    attempts: int
    interval_ns: int
    delay_ns: int
    mode: str


@dataclass(frozen=True, slots=True)
class RescheduleSpec:
    attempts: int
    interval_ns: int
    delay_ns: int
    delay_function: str
    max_delay_ns: int
    unlimited: bool


@dataclass(frozen=True, slots=True)
class DisconnectSpec:
    lost_after_ns: int
    replace: bool
    reconcile: str


@dataclass(frozen=True, slots=True)
class CheckSpec:
    name: str
    type: str
    port_label: str
    interval_ns: int
    timeout_ns: int
    task: str
    initial_status: str


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    port_label: str
    tags: tuple[str, ...]
    meta: Mapping[str, str]
    provider: str
    task: str
    address: str
    checks: tuple[CheckSpec, ...]


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    driver: str
    env: Mapping[str, str]
    cpu: int
    cores: int
    memory_mb: int
    memory_max_mb: int
    devices: tuple[DeviceRequest, ...]
    hook: str
    sidecar: bool
    leader: bool
    restart: RestartSpec
    kill_timeout_ns: int
    services: tuple[ServiceSpec, ...]

    @property
    def main(self) -> bool:
        return not self.hook


@dataclass(frozen=True, slots=True)
class GroupSpec:
    name: str
    count: int
    tasks: tuple[TaskSpec, ...]
    task_index: Mapping[str, int]
    task_keys_json: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    n_job_constraints: int
    distinct_hosts_job: bool
    distinct_hosts_group: bool
    distinct_properties: tuple[tuple[str, int, bool], ...]
    cpu: int
    memory_mb: int
    disk_mb: int
    devices: tuple[tuple[int, DeviceRequest], ...]
    drivers: frozenset[str]
    dynamic_ports: tuple[str, ...]
    reserved_ports: tuple[tuple[str, int], ...]
    services: tuple[ServiceSpec, ...]
    restart: RestartSpec
    reschedule: RescheduleSpec | None
    disconnect: DisconnectSpec | None
    update: Mapping[str, Any] | None
    max_run_duration_ns: int
    spec_hash: str
    scaling_min: int | None
    scaling_max: int | None

    @property
    def all_services(self) -> tuple[ServiceSpec, ...]:
        return self.services + tuple(s for t in self.tasks for s in t.services)


@dataclass(frozen=True, slots=True)
class JobSpec:
    id: str
    namespace: str
    type: str
    priority: int
    datacenters: tuple[str, ...]
    pool: str
    groups: tuple[GroupSpec, ...]
    parameterized: Mapping[str, Any] | None
    periodic: bool
    meta: Mapping[str, str]

    def group(self, name: str) -> GroupSpec | None:
        for g in self.groups:
            if g.name == name:
                return g
        return None


def _constraints(raw: Sequence[Mapping[str, Any]] | None) -> list[Constraint]:
    return [
        Constraint(c.get("LTarget") or "", c.get("RTarget") or "", c.get("Operand") or "=") for c in raw or []
    ]


def _restart(r: Mapping[str, Any]) -> RestartSpec:
    return RestartSpec(
        attempts=int(r.get("Attempts") or 0),
        interval_ns=int(r.get("Interval") or 0),
        delay_ns=int(r.get("Delay") or 0),
        mode=r.get("Mode") or "fail",
    )


def _services(raw: Sequence[Mapping[str, Any]] | None, task: str) -> tuple[ServiceSpec, ...]:
    out = []
    for s in raw or []:
        checks = tuple(
            CheckSpec(
                name=c.get("Name") or f"service: {s.get('Name')!r} check".replace("'", '"'),
                type=c.get("Type") or "tcp",
                port_label=c.get("PortLabel") or s.get("PortLabel") or "",
                interval_ns=int(c.get("Interval") or 10 * SEC),
                timeout_ns=int(c.get("Timeout") or 2 * SEC),
                task=c.get("TaskName") or s.get("TaskName") or task,
                initial_status=c.get("InitialStatus") or "",
            )
            for c in s.get("Checks") or []
        )
        out.append(
            ServiceSpec(
                name=s.get("Name") or "",
                port_label=s.get("PortLabel") or "",
                tags=tuple(s.get("Tags") or ()),
                meta=dict(s.get("Meta") or {}),
                provider=s.get("Provider") or "consul",
                task=s.get("TaskName") or task,
                address=s.get("Address") or "",
                checks=checks,
            )
        )
    return tuple(out)


_NON_DESTRUCTIVE = (
    "Count",
    "Scaling",
    "Update",
    "Migrate",
    "ReschedulePolicy",
    "Affinities",
    "Spreads",
    "Services",
)


def group_hash(g: Mapping[str, Any]) -> str:
    """A digest of what forces a destructive (create/destroy) update when it changes."""
    body = {k: v for k, v in g.items() if k not in _NON_DESTRUCTIVE}
    tasks = []
    for t in body.get("Tasks") or []:
        tasks.append({k: v for k, v in t.items() if k not in ("Services", "Affinities")})
    body["Tasks"] = tasks
    return hashlib.sha1(wire.dumps(body).encode(), usedforsecurity=False).hexdigest()


def parse(job: Mapping[str, Any]) -> JobSpec:
    """The scheduler's view of a canonical, valid job."""
    job_constraints = _constraints(job.get("Constraints"))
    groups = []
    for g in job.get("TaskGroups") or []:
        groups.append(_parse_group(g, job_constraints))
    return JobSpec(
        id=job["ID"],
        namespace=job["Namespace"],
        type=job["Type"],
        priority=job["Priority"],
        datacenters=tuple(job["Datacenters"]),
        pool=job["NodePool"],
        groups=tuple(groups),
        parameterized=job.get("ParameterizedJob"),
        periodic=bool(job.get("Periodic")),
        meta=dict(job.get("Meta") or {}),
    )


def _parse_group(g: Mapping[str, Any], job_constraints: list[Constraint]) -> GroupSpec:
    group_constraints = _constraints(g.get("Constraints"))
    tasks: list[TaskSpec] = []
    cons: list[Constraint] = []
    distinct_job = distinct_group = False
    props: list[tuple[str, int, bool]] = []
    n_job = 0
    for level, cs in (("job", job_constraints), ("group", group_constraints)):
        for c in cs:
            if c.operand == "distinct_hosts":
                if c.rtarget in ("", "true", "1"):
                    if level == "job":
                        distinct_job = True
                    else:
                        distinct_group = True
            elif c.operand == "distinct_property":
                props.append((c.ltarget, int(c.rtarget) if c.rtarget.isdigit() else 1, level == "job"))
            else:
                cons.append(c)
        if level == "job":
            n_job = len(cons)
    cpu = mem = 0
    devices: list[tuple[int, DeviceRequest]] = []
    drivers = set()
    for ti, t in enumerate(g.get("Tasks") or []):
        res = t.get("Resources") or {}
        devs = tuple(
            DeviceRequest(
                d.get("Name") or "", int(d.get("Count") or 1), tuple(_constraints(d.get("Constraints")))
            )
            for d in res.get("Devices") or []
        )
        lc = t.get("Lifecycle") or {}
        spec = TaskSpec(
            name=t["Name"],
            driver=t["Driver"],
            env=dict(t.get("Env") or {}),
            cpu=int(res.get("CPU") or 0),
            cores=int(res.get("Cores") or 0),
            memory_mb=int(res.get("MemoryMB") or 0),
            memory_max_mb=int(res.get("MemoryMaxMB") or 0),
            devices=devs,
            hook=lc.get("Hook") or "",
            sidecar=bool(lc.get("Sidecar")),
            leader=bool(t.get("Leader")),
            restart=_restart(t.get("RestartPolicy") or g["RestartPolicy"]),
            kill_timeout_ns=int(t.get("KillTimeout") or 0),
            services=_services(t.get("Services"), t["Name"]),
        )
        tasks.append(spec)
        cons.extend(_constraints(t.get("Constraints")))
        cpu += spec.cpu
        mem += spec.memory_mb
        devices.extend((ti, d) for d in devs)
        drivers.add(spec.driver)
    dyn: list[str] = []
    reserved: list[tuple[str, int]] = []
    for net in g.get("Networks") or []:
        dyn.extend(p.get("Label") or "" for p in net.get("DynamicPorts") or [])
        reserved.extend(
            (p.get("Label") or "", int(p.get("Value") or 0)) for p in net.get("ReservedPorts") or []
        )
    rp = g.get("ReschedulePolicy")
    resched = (
        RescheduleSpec(
            attempts=int(rp.get("Attempts") or 0),
            interval_ns=int(rp.get("Interval") or 0),
            delay_ns=int(rp.get("Delay") or 0),
            delay_function=rp.get("DelayFunction") or "constant",
            max_delay_ns=int(rp.get("MaxDelay") or 0),
            unlimited=bool(rp.get("Unlimited")),
        )
        if rp
        else None
    )
    dc = g.get("Disconnect")
    disconnect = (
        DisconnectSpec(
            int(dc.get("LostAfter") or 0), bool(dc.get("Replace", True)), dc.get("Reconcile") or "best_score"
        )
        if dc and dc.get("LostAfter")
        else None
    )
    scaling = g.get("Scaling") or {}
    names = [t.name for t in tasks]
    return GroupSpec(
        name=g["Name"],
        count=int(g.get("Count") or 0),
        tasks=tuple(tasks),
        task_index={n: i for i, n in enumerate(names)},
        task_keys_json=tuple(wire.dumps(n) + ":" for n in names),
        constraints=tuple(cons),
        n_job_constraints=n_job,
        distinct_hosts_job=distinct_job,
        distinct_hosts_group=distinct_group,
        distinct_properties=tuple(props),
        cpu=cpu,
        memory_mb=mem,
        disk_mb=int((g.get("EphemeralDisk") or {}).get("SizeMB") or 0),
        devices=tuple(devices),
        drivers=frozenset(drivers),
        dynamic_ports=tuple(dyn),
        reserved_ports=tuple(reserved),
        services=_services(g.get("Services"), ""),
        restart=_restart(g["RestartPolicy"]),
        reschedule=resched,
        disconnect=disconnect,
        update=g.get("Update"),
        max_run_duration_ns=int(g.get("MaxRunDuration") or 0),
        spec_hash=group_hash(g),
        scaling_min=scaling.get("Min"),
        scaling_max=scaling.get("Max"),
    )


# ---------------------------------------------------------------------------------------------
# Diff (structs.Job.Diff, simplified): same shape, field-level for scalars, objects recursed

_DIFF_SKIP = frozenset(
    {
        "Status",
        "StatusDescription",
        "Stable",
        "Version",
        "SubmitTime",
        "CreateIndex",
        "ModifyIndex",
        "JobModifyIndex",
    }
)


def _flat(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return wire.dumps(value)


def _field_diffs(
    old: Mapping[str, Any], new: Mapping[str, Any], skip: frozenset[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    fields: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    for key in sorted(set(old) | set(new)):
        if key in skip:
            continue
        o, n = old.get(key), new.get(key)
        if isinstance(o, dict) or isinstance(n, dict):
            od = _object_diff(key, o if isinstance(o, dict) else None, n if isinstance(n, dict) else None)
            if od is not None:
                objects.append(od)
        elif isinstance(o, list) or isinstance(n, list):
            ol, nl = o or [], n or []
            if all(isinstance(x, dict) for x in ol + nl) and (ol or nl):
                for i in range(max(len(ol), len(nl))):
                    od = _object_diff(key, ol[i] if i < len(ol) else None, nl[i] if i < len(nl) else None)
                    if od is not None:
                        objects.append(od)
            else:
                fo, fn = _flat(o), _flat(n)
                if fo != fn:
                    fields.append(_fd(fo, fn, key))
        else:
            fo, fn = _flat(o), _flat(n)
            if fo != fn:
                fields.append(_fd(fo, fn, key))
    return fields, objects


def _fd(old: str, new: str, name: str) -> dict[str, Any]:
    kind = "Added" if not old else "Deleted" if not new else "Edited"
    return {"Type": kind, "Name": name, "Old": old, "New": new, "Annotations": None}


def _object_diff(
    name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    fields, objects = _field_diffs(old or {}, new or {}, frozenset())
    if not fields and not objects:
        return None
    kind = "Added" if old is None else "Deleted" if new is None else "Edited"
    return {"Type": kind, "Name": name, "Fields": fields or None, "Objects": objects or None}


def diff(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], updates: Mapping[str, Mapping[str, int]]
) -> dict[str, Any]:
    """``JobDiff`` between two canonical jobs; ``updates`` gives each group's ``Updates`` counts."""
    o = old or {}
    fields, objects = _field_diffs(
        {k: v for k, v in o.items() if k != "TaskGroups"},
        {k: v for k, v in new.items() if k != "TaskGroups"},
        _DIFF_SKIP,
    )
    old_groups = {g["Name"]: g for g in o.get("TaskGroups") or []}
    new_groups = {g["Name"]: g for g in new.get("TaskGroups") or []}
    tg_diffs = []
    for name in list(new_groups) + [n for n in old_groups if n not in new_groups]:
        og, ng = old_groups.get(name), new_groups.get(name)
        gfields, gobjects = _field_diffs(
            {k: v for k, v in (og or {}).items() if k != "Tasks"},
            {k: v for k, v in (ng or {}).items() if k != "Tasks"},
            frozenset({"Name"}),
        )
        old_tasks = {t["Name"]: t for t in (og or {}).get("Tasks") or []}
        new_tasks = {t["Name"]: t for t in (ng or {}).get("Tasks") or []}
        task_diffs = []
        for tname in list(new_tasks) + [n for n in old_tasks if n not in new_tasks]:
            ot, nt = old_tasks.get(tname), new_tasks.get(tname)
            tfields, tobjects = _field_diffs(ot or {}, nt or {}, frozenset({"Name"}))
            ttype = (
                "Added"
                if ot is None
                else "Deleted"
                if nt is None
                else "Edited"
                if tfields or tobjects
                else "None"
            )
            annotations = None
            if ttype == "Edited":
                annotations = (
                    ["forces create/destroy update"]
                    if group_hash({"Tasks": [ot]}) != group_hash({"Tasks": [nt]})
                    else ["forces in-place update"]
                )
            elif ttype == "Added" and og is not None:
                annotations = ["forces create/destroy update"]
            task_diffs.append(
                {
                    "Type": ttype,
                    "Name": tname,
                    "Fields": tfields or None,
                    "Objects": tobjects or None,
                    "Annotations": annotations,
                }
            )
        gtype = (
            "Added"
            if og is None
            else "Deleted"
            if ng is None
            else "Edited"
            if gfields or gobjects or any(t["Type"] != "None" for t in task_diffs)
            else "None"
        )
        tg_diffs.append(
            {
                "Type": gtype,
                "Name": name,
                "Fields": gfields or None,
                "Objects": gobjects or None,
                "Tasks": task_diffs or None,
                "Updates": dict(updates.get(name) or {}) or None,
            }
        )
    if old is None:
        jtype = "Added"
    elif fields or objects or any(g["Type"] != "None" for g in tg_diffs):
        jtype = "Edited"
    else:
        jtype = "None"
    return {
        "Type": jtype,
        "ID": new.get("ID"),
        "Fields": fields or None,
        "Objects": objects or None,
        "TaskGroups": tg_diffs,
    }
