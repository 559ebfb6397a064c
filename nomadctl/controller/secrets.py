"""Plan-time check that every ``vault:`` reference of a plan names an existing secret.

Runs wherever a plan meets a Vault client: ``Controller.create`` and ``nomadctl render`` /
``validate`` when ``VAULT_ADDR`` is set. Only KV v2 *metadata* is read (the controller's Vault
policy grants nothing else), so the check proves the secret exists but never sees its values;
a missing key inside an existing secret is caught when the task starts, because the rendered
template sets ``error_on_missing_key``. Errors name the path, the task and the env variable,
never a value.
"""

from __future__ import annotations

from nomadctl.clients.errors import VaultError
from nomadctl.clients.vault import VaultClient
from nomadctl.controller.errors import SecretMissing
from nomadctl.jobspec import secrets as vault_refs
from nomadctl.plan import EnvironmentPlan


def check_secrets(plan: EnvironmentPlan, vault: VaultClient) -> int:
    """Raise ``SecretMissing`` for the first reference to an absent secret; return how many
    distinct secrets were checked."""
    known: dict[tuple[str, str], bool] = {}
    for task in plan.tasks:
        for name, value in task.env_map.items():
            if not vault_refs.is_reference(value):
                continue
            ref = vault_refs.parse(name, value, role_path=task.path)
            where = f"vault secret {ref.mount}/{ref.path} (task {task.path}, env {ref.env})"
            if (ref.mount, ref.path) not in known:
                try:
                    known[(ref.mount, ref.path)] = vault.kv_exists(ref.path, mount=ref.mount)
                except VaultError as err:
                    raise SecretMissing(f"{where}: cannot be checked: {err.one_line()}") from None
            if not known[(ref.mount, ref.path)]:
                raise SecretMissing(f"{where}: no such secret")
    return len(known)
