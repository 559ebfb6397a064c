"""Policies as code: the Vault, Nomad and Consul ACL policies of a deployment, and placement rules.

    spec        load and validate ``policies/`` (HCL files, each with a "Held by / Why" header)
    nomad_caps  Nomad namespace capabilities by version; the 2.0 → 1.x rewrite of a policy
    reconcile   desired vs current per backend: plan (created/updated/unchanged), apply, drift
    admission   the namespace → node pool / priority / driver table Nomad CE cannot enforce,
                checked by the controller before it plans or registers a job (no I/O)

The package sits above the clients (it reads and writes ACL objects through them) and below the
CLI; ``admission`` imports no client and is safe to call from anywhere above it.
"""
