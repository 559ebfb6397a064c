# Vault/OpenBao policy "aliecs-async-read".
#
# Held by: tasks of Nomad jobs in the `async` namespace (asynchronous processing), through
# the Vault token Nomad obtains with their workload identity from the JWT role "aliecs-async"
# (auth/jwt-nomad, bound to nomad_namespace = "async").
# Why: a task's `template` renders the secrets its manifest references (`vault:kv/aliecs/async/...`)
# into its secrets/ directory. Read only, and only this environment class: a job of another
# namespace cannot log in to this role, and no task can list, write or delete secrets.
path "kv/data/aliecs/async/*" {
  capabilities = ["read"]
}
