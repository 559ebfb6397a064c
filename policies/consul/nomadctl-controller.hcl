# Consul ACL policy "nomadctl-controller" (linked from the role of the same name).
#
# Held by: the nomadctl controller's Consul token (`consul acl token create -role-name
# nomadctl-controller`), delivered from Vault at kv/data/nomadctl/controller.
# Why: the controller keeps its state under `nomadctl/` (environment records, events, locks, the
# run-number counter), reads the AliECS configuration under `o2/` (runtime defaults and vars,
# components, hardware inventory), may write `o2/runtime/` (runtime.Set from templates), holds
# sessions for its per-environment locks, and reads services, their health and nodes to wire
# stages and judge health. It registers no service and writes no other key.
key_prefix "nomadctl/" {
  policy = "write"
}

key_prefix "o2/" {
  policy = "read"
}

key_prefix "o2/runtime/" {
  policy = "write"
}

# Sessions are created against the node of the Consul agent the controller talks to, which
# is not known in advance.
session_prefix "" {
  policy = "write"
}

service_prefix "" {
  policy = "read"
}

node_prefix "" {
  policy = "read"
}
