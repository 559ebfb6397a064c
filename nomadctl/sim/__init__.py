"""An in-process simulated farm speaking the subset of the Nomad and Consul HTTP APIs nomadctl uses.

    from nomadctl.sim import SimFarm, NodeSpec, parse_node_spec

    with SimFarm(parse_node_spec("epn:4:gpus=8"), seed=1) as farm:
        httpx.post(f"{farm.nomad_addr}/v1/jobs", json={"Job": job})
        farm.faults.node_down("epn002")

See ``docs/sim.md`` for the endpoints, the fault API (``farm.faults`` and ``/sim/v1``) and what is
simulated how.
"""

from nomadctl.sim.clock import ManualClock, RealClock
from nomadctl.sim.errors import SimError
from nomadctl.sim.farm import SimFarm
from nomadctl.sim.faults import ENV_DURATION, ENV_EXIT_CODE, Faults
from nomadctl.sim.nodes import NodeSpec, parse_node_spec

__all__ = [
    "ENV_DURATION",
    "ENV_EXIT_CODE",
    "Faults",
    "ManualClock",
    "NodeSpec",
    "RealClock",
    "SimError",
    "SimFarm",
    "parse_node_spec",
]
