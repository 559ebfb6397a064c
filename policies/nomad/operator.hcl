# Nomad ACL policy "operator".
#
# Held by: ALICE run coordinators and cluster operators (short-lived tokens from Vault's Nomad
# secrets engine or SSO, not long-lived ones).
# Why: operators see everything and drive job and allocation lifecycles by hand when the controller
# cannot: stop a job, restart or stop allocations, promote/fail/pause deployments, force a periodic
# run, scale; drain nodes and change their eligibility; read logs and allocation files. They do not
# register jobs (that goes through the controller or CI) and cannot exec into allocations: that
# is the separate break-glass policy "operator-exec".
#
# Written for Nomad >= 2.0. On 1.x the job and deployment capabilities become "submit-job", which
# there also allows registering jobs.
namespace "*" {
  policy = "read"
  capabilities = [
    "read-logs",
    "read-fs",
    "alloc-lifecycle",
    "deregister-job",
    "evaluate-job",
    "scale-job",
    "fail-deployment",
    "pause-deployment",
    "promote-deployment",
    "unblock-deployment",
    "cancel-deployment",
    "force-periodic-job",
  ]
}

node {
  policy = "write"
}

node_pool "*" {
  policy = "read"
}

agent {
  policy = "read"
}

operator {
  policy = "read"
}

plugin {
  policy = "read"
}
