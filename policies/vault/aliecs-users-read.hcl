# Vault/OpenBao policy "aliecs-users-read".
#
# Held by: tasks of Nomad jobs in the `users` namespace (other users and their CI), through
# the Vault token Nomad obtains with their workload identity from the JWT role "aliecs-users"
# (auth/jwt-nomad, bound to nomad_namespace = "users").
# Why: a task's `template` renders the secrets its manifest references (`vault:kv/aliecs/users/...`)
# into its secrets/ directory. Read only, and only this environment class: a job of another
# namespace cannot log in to this role, and no task can list, write or delete secrets.
path "kv/data/aliecs/users/*" {
  capabilities = ["read"]
}
