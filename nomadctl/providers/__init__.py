"""Inventory/config/runtime lookups used by manifest templates. The protocol is pure; backends live in
their own modules.
"""
