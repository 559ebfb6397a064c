"""The AliECS environment state machine and the hook/call schedule of a transition. Pure decisions; the
controller performs them.
"""
