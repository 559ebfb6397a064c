"""Nomad (httpx), Consul (py-consul) and Vault (hvac) clients: one error tree, one retry policy."""
