# Vault/OpenBao policy "aliecs-online-read".
#
# Held by: tasks of Nomad jobs in the `online` namespace (AliECS data-taking environments), through
# the Vault token Nomad obtains with their workload identity from the JWT role "aliecs-online"
# (auth/jwt-nomad, bound to nomad_namespace = "online").
# Why: a task's `template` renders the secrets its manifest references (`vault:kv/aliecs/online/...`)
# into its secrets/ directory. Read only, and only this environment class: a job of another
# namespace cannot log in to this role, and no task can list, write or delete secrets.
path "kv/data/aliecs/online/*" {
  capabilities = ["read"]
}
