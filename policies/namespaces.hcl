# Nomad namespaces of an ALICE deployment, and the placement rules nomadctl enforces in them.
#
# Held by: nobody (namespaces are not credentials). Applied with `nomadctl policies apply --nomad`
# by a Nomad management token: writing namespaces needs one.
# Why: online data taking, asynchronous processing and other users share one cluster; each gets a
# namespace so that ACL policies, priorities and task drivers can differ between them.
#
# Two kinds of rules live here:
#   * `capabilities { enabled_task_drivers / disabled_task_drivers }` is sent to Nomad, and Nomad CE
#     enforces it when a job is registered ("used task driver ... is not allowed in namespace").
#     This is how raw_exec (no isolation, runs as the client's user, normally root) is kept out of
#     `users`, `infra` and `default`.
#   * the `nomadctl { ... }` block is NOT enforceable by Nomad CE: binding a namespace to node pools
#     (`node_pool_config`) and quotas are Enterprise (CE rejects them: "Node Pools Governance is
#     unlicensed"), and no edition caps job priority per namespace. nomadctl enforces these rules
#     itself (nomadctl.policies.admission, called by the controller before every plan/register) and
#     writes them into each namespace's meta (`nomadctl.*`) so the controller can read them from Nomad.
#     A token holder who bypasses nomadctl (`nomad job run`) is bound only by the Nomad-side rules.
#
# raw_exec is enabled (client agent config, `plugin "raw_exec"`) only on the nodes of these pools;
# nomadctl also refuses a raw_exec task that could be placed outside them.
raw_exec_node_pools = ["epn", "flp"]

namespace "online" {
  description = "ALICE online data taking: AliECS environments driven by the nomadctl controller only"
  capabilities {
    enabled_task_drivers = ["raw_exec"]
  }
  nomadctl {
    node_pools       = ["epn", "flp"]
    priority_min     = 80
    priority_max     = 90
    priority_default = 85
  }
}

namespace "async" {
  description = "Asynchronous reconstruction and calibration batches; preemptible by online"
  capabilities {
    enabled_task_drivers = ["raw_exec", "exec", "docker"]
  }
  nomadctl {
    node_pools       = ["epn", "batch"]
    priority_min     = 40
    priority_max     = 60
    priority_default = 50
  }
}

namespace "users" {
  description = "Other users and their CI: isolated drivers only, lowest priority"
  capabilities {
    disabled_task_drivers = ["raw_exec"]
  }
  nomadctl {
    node_pools       = ["batch", "default"]
    priority_min     = 1
    priority_max     = 30
    priority_default = 20
  }
}

namespace "infra" {
  description = "The nomadctl controller and other services that run the cluster"
  capabilities {
    disabled_task_drivers = ["raw_exec"]
  }
  nomadctl {
    node_pools       = ["default"]
    priority_min     = 90
    priority_max     = 100
    priority_default = 95
  }
}

# Every job that names no namespace lands here; nobody is granted anything in it, and raw_exec is
# switched off so that a stray job cannot run unisolated.
namespace "default" {
  description = "Unused on purpose: every job names its namespace"
  capabilities {
    disabled_task_drivers = ["raw_exec"]
  }
  nomadctl {
    node_pools       = ["default"]
    priority_min     = 1
    priority_max     = 30
    priority_default = 20
  }
}
