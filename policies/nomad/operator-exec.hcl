# Nomad ACL policy "operator-exec" (break glass).
#
# Held by: named on-call experts only, attached to short-lived tokens (`nomad acl token create
# -ttl=1h`) in addition to "operator".
# Why: `nomad alloc exec` into a raw_exec task needs "alloc-node-exec", and raw_exec tasks run
# without isolation as the Nomad client's user (normally root): holding this is a root shell on
# every EPN and FLP node. Nobody else gets it, and no other policy here grants it.
#
# Valid on Nomad 1.x and 2.x alike.
namespace "*" {
  capabilities = [
    "alloc-exec",
    "alloc-node-exec",
  ]
}
