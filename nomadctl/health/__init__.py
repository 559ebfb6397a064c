"""Allocation health and NMIN: the pure predicate (``health.predicate``: allocation health, group
state against nmin, the environment-level decision) and the watcher that feeds it (I/O).
"""
