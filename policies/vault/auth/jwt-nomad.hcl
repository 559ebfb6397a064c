# Vault/OpenBao JWT auth method "jwt-nomad": Nomad workload identities log in here.
#
# Held by: Nomad clients, on behalf of each task with a `vault { role = "..." }` block; they
# present the task's workload identity (a JWT signed by the Nomad servers, aud "vault.io") and
# renew the periodic token they get back. Requires Nomad >= 1.7 (workload identity; the only
# way since 1.10). The mount path is Nomad's default `jwt_auth_backend_path`.
# Why: each role binds one Nomad namespace (and, for the controller, one job) to one read policy,
# so a job can only ever obtain the secrets of its own environment class. There is no default
# role: a job that names no role gets no token.
#
# `jwks_url` (the Nomad servers' /.well-known/jwks.json) is deployment-specific and is given to
# `nomadctl policies apply` (--jwks-url, default: $NOMAD_ADDR/.well-known/jwks.json).
description = "Nomad workload identities"

config {
  jwt_supported_algs = ["RS256", "EdDSA"]
  default_role       = ""
}

role "aliecs-online" {
  role_type               = "jwt"
  bound_audiences         = ["vault.io"]
  bound_claims            = { nomad_namespace = "online" }
  user_claim              = "/nomad_job_id"
  user_claim_json_pointer = true
  claim_mappings = {
    nomad_namespace = "nomad_namespace"
    nomad_job_id    = "nomad_job_id"
    nomad_task      = "nomad_task"
  }
  token_type             = "service"
  token_policies         = ["aliecs-online-read"]
  token_period           = "30m"
  token_explicit_max_ttl = 0
}

role "aliecs-async" {
  role_type               = "jwt"
  bound_audiences         = ["vault.io"]
  bound_claims            = { nomad_namespace = "async" }
  user_claim              = "/nomad_job_id"
  user_claim_json_pointer = true
  claim_mappings = {
    nomad_namespace = "nomad_namespace"
    nomad_job_id    = "nomad_job_id"
    nomad_task      = "nomad_task"
  }
  token_type             = "service"
  token_policies         = ["aliecs-async-read"]
  token_period           = "30m"
  token_explicit_max_ttl = 0
}

role "aliecs-users" {
  role_type               = "jwt"
  bound_audiences         = ["vault.io"]
  bound_claims            = { nomad_namespace = "users" }
  user_claim              = "/nomad_job_id"
  user_claim_json_pointer = true
  claim_mappings = {
    nomad_namespace = "nomad_namespace"
    nomad_job_id    = "nomad_job_id"
    nomad_task      = "nomad_task"
  }
  token_type             = "service"
  token_policies         = ["aliecs-users-read"]
  token_period           = "30m"
  token_explicit_max_ttl = 0
}

role "nomadctl-controller" {
  role_type               = "jwt"
  bound_audiences         = ["vault.io"]
  bound_claims            = { nomad_namespace = "infra", nomad_job_id = "nomadctl" }
  user_claim              = "/nomad_job_id"
  user_claim_json_pointer = true
  claim_mappings = {
    nomad_namespace = "nomad_namespace"
    nomad_job_id    = "nomad_job_id"
    nomad_task      = "nomad_task"
  }
  token_type             = "service"
  token_policies         = ["nomadctl-controller"]
  token_period           = "30m"
  token_explicit_max_ttl = 0
}
