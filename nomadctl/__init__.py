"""nomadctl: run ALICE AliECS environments on HashiCorp Nomad, Consul and Vault."""

__version__ = "0.1.0"
