# Nomad ACL policy "ci-submitter".
#
# Held by: CI pipelines that render job files (`nomadctl jobspec ...`) and run them with
# `nomad job run` / `nomad job plan`; one token per pipeline, stored as a masked CI variable.
# Why: CI registers jobs in its own namespace, `async`, and nowhere else; it reads what it submitted
# (to follow the deployment) but cannot stop or purge jobs, read logs, exec into allocations or
# touch `online`, where data taking is driven by the controller alone. A CI of another namespace
# gets a copy of this file with that namespace.
#
# Written for Nomad >= 2.0. On 1.x "register-job" and "plan-job" become "submit-job", which there
# also allows stopping and purging jobs of the namespace.
namespace "async" {
  policy = "read"
  capabilities = [
    "register-job",
    "plan-job",
  ]
}
