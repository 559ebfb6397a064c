"""Allocation health and NMIN: the pure predicate (health.predicate) and the watcher that feeds it
(I/O).
"""
