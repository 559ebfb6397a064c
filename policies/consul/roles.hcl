# Consul ACL roles: which policies each token-holder class gets.
#
# Held by: tokens created for a role (`-role-name`), or minted at login by Nomad workload
# identities: `nomad setup consul` binds a task's identity to the role
# "nomad-${value.nomad_namespace}-tasks", so these names must stay in that form.
# Why: a role keeps the policy list in one place; a namespace without a role here gets no
# Consul access from its tasks' identities at all (login fails), which is the safe default.
role "nomadctl-controller" {
  description = "The nomadctl controller"
  policies    = ["nomadctl-controller"]
}

role "nomad-online-tasks" {
  description = "Tasks of the online namespace (AliECS data taking)"
  policies    = ["task-discovery", "aliecs-config-read"]
}

role "nomad-async-tasks" {
  description = "Tasks of the async namespace"
  policies    = ["task-discovery", "aliecs-config-read"]
}

role "nomad-users-tasks" {
  description = "Tasks of the users namespace: discovery only"
  policies    = ["task-discovery"]
}
