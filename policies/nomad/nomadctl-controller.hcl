# Nomad ACL policy "nomadctl-controller".
#
# Held by: the nomadctl controller's Nomad token (one token per deployment, shared by its replicas,
# delivered from Vault at kv/data/nomadctl/controller, never on a command line).
# Why: the controller registers, plans, deregisters, scales and dispatches the AliECS jobs of
# `online` and `async`, purges the jobs it created when it tears an environment down (so no
# orphan job remains), reads their allocations, evaluations and deployments, reads nodes,
# follows the event stream (Job/Allocation/Deployment/Evaluation need read-job in the namespace
# streamed, Node needs node read) and reads /v1/agent/self. Nothing more: no revert, no logs or
# file system, no alloc exec, no node writes, no other namespace. Stream one namespace at a time:
# `?namespace=*` needs read-job in every namespace. tests/policies/test_files.py checks this list
# against the Nomad calls in nomadctl/controller.
#
# Written for Nomad >= 2.0 (fine-grained job capabilities). On Nomad 1.x `nomadctl policies apply`
# sends it with every 2.0-only capability replaced by "submit-job", which 1.x needs for the same
# calls and which also allows purge and revert there.
namespace "online" {
  capabilities = [
    "list-jobs",
    "read-job",
    "parse-job",
    "register-job",
    "plan-job",
    "deregister-job",
    "purge-job",
    "dispatch-job",
    "read-job-scaling",
    "scale-job",
  ]
}

namespace "async" {
  capabilities = [
    "list-jobs",
    "read-job",
    "parse-job",
    "register-job",
    "plan-job",
    "deregister-job",
    "purge-job",
    "dispatch-job",
    "read-job-scaling",
    "scale-job",
  ]
}

node {
  policy = "read"
}

agent {
  policy = "read"
}
