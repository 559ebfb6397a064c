# Vault/OpenBao policy "nomadctl-controller".
#
# Held by: the nomadctl controller, through the token Nomad obtains for its job (namespace
# `infra`, job `nomadctl`) from the JWT role "nomadctl-controller".
# Why: at plan time the controller checks that every secret a manifest references exists, which
# needs the KV v2 *metadata* of kv/aliecs/ (read, list) and never the values: the controller can
# tell that a secret exists, not what it holds. It also reads its own Nomad and Consul tokens from
# kv/data/nomadctl/controller (rendered into its environment by its job's template).
path "kv/metadata/aliecs/*" {
  capabilities = ["read", "list"]
}

path "kv/data/nomadctl/controller" {
  capabilities = ["read"]
}
