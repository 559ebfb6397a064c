# Vault/OpenBao policy "nomadctl-policy-admin".
#
# Held by: whoever runs `nomadctl policies apply --vault` after bootstrap (a policy-deployment CI
# job or an administrator), instead of a root token.
# Why: it manages exactly what `policies/vault/` declares: the ACL policies named aliecs-* and
# nomadctl-*, and the JWT auth method at auth/jwt-nomad (mount, config, roles). Whoever holds it
# controls what those policies grant, so treat it like an administrator credential. It can read
# but not rewrite itself (the exact path beats the glob), so it cannot widen its own grant.
path "sys/policy" {
  capabilities = ["read", "list"]
}

path "sys/policies/acl" {
  capabilities = ["list"]
}

path "sys/policy/aliecs-*" {
  capabilities = ["create", "read", "update", "delete"]
}

path "sys/policies/acl/aliecs-*" {
  capabilities = ["create", "read", "update", "delete"]
}

path "sys/policy/nomadctl-*" {
  capabilities = ["create", "read", "update", "delete"]
}

path "sys/policies/acl/nomadctl-*" {
  capabilities = ["create", "read", "update", "delete"]
}

path "sys/policy/nomadctl-policy-admin" {
  capabilities = ["read"]
}

path "sys/policies/acl/nomadctl-policy-admin" {
  capabilities = ["read"]
}

path "sys/auth" {
  capabilities = ["read"]
}

# Enabling an auth method needs sudo.
path "sys/auth/jwt-nomad" {
  capabilities = ["create", "read", "update", "sudo"]
}

path "auth/jwt-nomad/config" {
  capabilities = ["create", "read", "update"]
}

path "auth/jwt-nomad/role" {
  capabilities = ["list"]
}

path "auth/jwt-nomad/role/*" {
  capabilities = ["create", "read", "update", "delete"]
}
