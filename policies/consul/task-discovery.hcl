# Consul ACL policy "task-discovery".
#
# Held by: tasks of every namespace, through the roles "nomad-<namespace>-tasks" that Nomad
# workload identities log in to (the binding rule created by `nomad setup consul`).
# Why: a task's `template` resolves its peers (TCP channels of other stages) from the catalog and
# health endpoints, which needs service and node read. Writing its own service is not granted here:
# each service gets a service identity (`service "<name>" { policy = "write" }`) from the other
# `nomad setup consul` binding rule, so a task can register only its own services.
service_prefix "" {
  policy = "read"
}

node_prefix "" {
  policy = "read"
}
