"""The AliECS environment state machine and the hook/call schedule of a transition. Pure decisions; the
controller performs them.

* ``fsm``: states, transitions, the FSM table, teardown rules, the moments of a transition;
* ``triggers``: the ``<moment>[±N]`` grammar;
* ``hooks``: a plan's hooks and calls indexed by moment and weight, with static warnings;
* ``state``: ``Environment``, the frozen lifecycle state the controller persists;
* ``schedule``: one transition or teardown as a sans-I/O generator of steps, ``recovery`` (what
  follows a failure) and ``destroy_plan``;
* ``events``: AliECS's event records (``Ev_*``) and their JSON form.
"""
