"""Executes lifecycle steps against the clients: persistence in Consul KV, locks, events."""
