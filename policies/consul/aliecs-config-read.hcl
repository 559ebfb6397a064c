# Consul ACL policy "aliecs-config-read".
#
# Held by: tasks of `online` and `async` (roles "nomad-online-tasks", "nomad-async-tasks").
# Why: AliECS tasks read their configuration payloads straight from Consul KV
# (`consul-ini://…/o2/components/readout/…`, `consul-json://…/o2/components/qc/…`, the CRU
# configuration under the hardware tree). Read only, and only these two trees: the controller's
# state under `nomadctl/` and the runtime values stay out of the tasks' reach.
key_prefix "o2/components/" {
  policy = "read"
}

key_prefix "o2/hardware/" {
  policy = "read"
}
