"""An in-process simulated farm speaking the subset of the Nomad and Consul HTTP APIs nomadctl uses, on
127.0.0.1.
"""
