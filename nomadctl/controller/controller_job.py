"""The controller daemon's own Nomad job (``jobspecs/nomadctl-controller.*``), built with the same
typed job model and checked by the same validator as the environments' jobs.

What the job says, and why:

* job ``nomadctl`` in namespace ``infra``: the identity the policies expect (Vault JWT role
  ``nomadctl-controller`` is bound to ``infra``/``nomadctl``; ``policies/``, ``docs/security.md``);
* ``count = 2`` with ``distinct_hosts``: two replicas on two machines; one leads (Consul session
  lock), the other takes over within the session TTL's grace if the first dies;
* ``raw_exec`` running ``<venv>/bin/nomadctl controller run`` from a virtualenv installed on the
  hosts (raw_exec has no image: the venv path is a deployment choice, ``--venv``), as an
  unprivileged user, with the config repositories of the environments readable on the host
  (the daemon re-plans environments from their records);
* ``NOMAD_ADDR``/``CONSUL_HTTP_ADDR`` point at the agents of the node it runs on (Nomad
  interpolates ``${attr.unique.network.ip-address}``), over TLS with the agents' CA;
* tokens never appear in the job: the task's workload identity logs in to Vault (``vault``
  block, role ``nomadctl-controller``) and a ``template`` renders ``NOMAD_TOKEN`` and
  ``CONSUL_HTTP_TOKEN`` from ``kv/nomadctl/controller`` into the task's environment
  (``secrets/``, restart on change);
* a Consul service ``nomadctl-controller`` on the daemon's status port (``--status-addr``,
  ``GET /v1/status``) with a TCP check; deployments gate on it (``health_check = "checks"``);
* SIGTERM with a 30 s kill timeout: a stopped replica resigns (releases the leader key), so a
  rolling update hands over at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from nomadctl.jobspec import NomadVersion
from nomadctl.jobspec.model import (
    Constraint,
    EphemeralDisk,
    Job,
    LogConfig,
    NetworkResource,
    Port,
    RawExecConfig,
    ReschedulePolicy,
    Resources,
    RestartPolicy,
    Service,
    ServiceCheck,
    Task,
    TaskGroup,
    Template,
    UpdateStrategy,
    Vault,
)
from nomadctl.jobspec.validate import validate as validate_jobs

S = 1_000_000_000
MINUTE = 60 * S

JSON_FILE = "nomadctl-controller.json"
HCL_FILE = "nomadctl-controller.nomad.hcl"
SERVICE = "nomadctl-controller"

TOKENS_TEMPLATE = """\
{{- with secret "kv/data/nomadctl/controller" }}
NOMAD_TOKEN={{ .Data.data.nomad_token }}
CONSUL_HTTP_TOKEN={{ .Data.data.consul_token }}
{{- end }}
"""


@dataclass(frozen=True, slots=True)
class ControllerJobOptions:
    """What a deployment may change in the controller's job."""

    job_id: str = "nomadctl"
    namespace: str = "infra"
    datacenters: tuple[str, ...] = ("*",)
    node_pool: str | None = None
    count: int = 2
    venv: str = "/opt/nomadctl/venv"
    user: str = "nomadctl"
    kv_prefix: str = "nomadctl"
    nomad_addr: str = "https://${attr.unique.network.ip-address}:4646"
    consul_addr: str = "https://${attr.unique.network.ip-address}:8501"
    nomad_cacert: str = "/etc/nomad.d/tls/nomad-agent-ca.pem"
    consul_cacert: str = "/etc/consul.d/tls/consul-agent-ca.pem"
    vault_role: str = "nomadctl-controller"
    leader_ttl_s: int = 15
    leader_lock_delay_s: int = 1
    priority: int = 90
    extra_args: Sequence[str] = field(default_factory=tuple)


def controller_job(opts: ControllerJobOptions | None = None, version: NomadVersion | None = None) -> Job:
    """The controller's job, validated for ``version`` (Nomad's rules; ``PlanError`` if broken)."""
    o = opts or ControllerJobOptions()
    args = [
        "controller",
        "--kv-prefix",
        o.kv_prefix,
        "run",
        "--status-addr",
        "${NOMAD_ADDR_status}",
        "--leader-ttl",
        str(o.leader_ttl_s),
        "--lock-delay",
        str(o.leader_lock_delay_s),
        "--id",
        "${node.unique.name}/${NOMAD_SHORT_ALLOC_ID}",
        *o.extra_args,
    ]
    task = Task(
        name="controller",
        driver="raw_exec",
        user=o.user,
        kill_timeout=30 * S,
        kill_signal="SIGTERM",
        config=RawExecConfig(command=f"{o.venv}/bin/nomadctl", args=args),
        env={
            "NOMAD_ADDR": o.nomad_addr,
            "NOMAD_CACERT": o.nomad_cacert,
            "CONSUL_HTTP_ADDR": o.consul_addr,
            "CONSUL_CACERT": o.consul_cacert,
            "PYTHONUNBUFFERED": "1",
        },
        resources=Resources(cpu=2000, memory_mb=1024, memory_max_mb=4096),
        log_config=LogConfig(max_files=5, max_file_size_mb=20),
        vault=Vault(role=o.vault_role, change_mode="restart"),
        templates=[
            Template(
                embedded_tmpl=TOKENS_TEMPLATE,
                dest_path="secrets/tokens.env",
                change_mode="restart",
                perms="0600",
                envvars=True,
                err_missing_key=True,
            )
        ],
        services=[
            Service(
                name=SERVICE,
                port_label="status",
                tags=["nomadctl", "controller"],
                checks=[ServiceCheck(name="status", type="tcp", interval=10 * S, timeout=2 * S)],
            )
        ],
    )
    group = TaskGroup(
        name="controller",
        count=o.count,
        meta={"nomadctl.role": "controller"},
        networks=[NetworkResource(dynamic_ports=[Port(label="status")])],
        restart_policy=RestartPolicy(attempts=3, interval=5 * MINUTE, delay=15 * S, mode="delay"),
        reschedule_policy=ReschedulePolicy(
            attempts=0, delay=15 * S, delay_function="exponential", max_delay=5 * MINUTE, unlimited=True
        ),
        ephemeral_disk=EphemeralDisk(size_mb=200),
        update=UpdateStrategy(
            max_parallel=1,
            health_check="checks",
            min_healthy_time=10 * S,
            healthy_deadline=2 * MINUTE,
            progress_deadline=5 * MINUTE,
            auto_revert=True,
        ),
        tasks=[task],
    )
    job = Job(
        id=o.job_id,
        name=o.job_id,
        namespace=o.namespace,
        type="service",
        priority=o.priority,
        datacenters=list(o.datacenters),
        node_pool=o.node_pool,
        meta={"nomadctl.kind": "controller"},
        constraints=[Constraint(operand="distinct_hosts", rtarget="true")],
        task_groups=[group],
    )
    validate_jobs([job], version or NomadVersion(2, 0, 0))
    return job
