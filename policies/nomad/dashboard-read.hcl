# Nomad ACL policy "dashboard-read".
#
# Held by: dashboards and monitoring (Grafana data sources, a read-only Nomad UI token, exporters).
# Why: they show jobs, allocations, deployments and nodes of every namespace and must not change
# anything. Logs and allocation files are left out: they may carry run data, and dashboards do not
# need them. Job specs are readable here, which is safe because nomadctl never writes a secret
# into a job spec (secrets are rendered on the client from Vault).
#
# Valid on Nomad 1.x and 2.x alike.
namespace "*" {
  policy = "read"
}

node {
  policy = "read"
}

node_pool "*" {
  policy = "read"
}
