"""Nodes: the spec parser and the node API shapes."""

from __future__ import annotations

import httpx
import pytest

from nomadctl.errors import UsageError
from nomadctl.sim import NodeSpec, SimFarm, parse_node_spec


def test_parse_node_spec_names_class_and_options() -> None:
    nodes = parse_node_spec("epn:350:gpus=8:pool=epn:meta.rack=r1")
    assert len(nodes) == 350
    assert nodes[0].name == "epn001"
    assert nodes[-1].name == "epn350"
    assert {n.node_class for n in nodes} == {"epn"}
    assert nodes[0].gpus == 8
    assert nodes[0].pool == "epn"
    assert dict(nodes[0].meta) == {"rack": "r1"}


def test_parse_node_spec_pads_to_the_count_width() -> None:
    assert parse_node_spec("x:1200")[0].name == "x0001"


@pytest.mark.parametrize("text", ["epn", "epn:0", "epn:3:gpus", "epn:3:colour=red", "epn:2:gpus=x", ":3"])
def test_parse_node_spec_rejects_bad_specs(text: str) -> None:
    with pytest.raises(UsageError):
        parse_node_spec(text)


def test_node_list_stub_and_resources(farm: SimFarm, nomad: httpx.Client) -> None:
    r = nomad.get("/v1/nodes")
    assert r.status_code == 200
    assert int(r.headers["X-Nomad-Index"]) >= 1
    assert r.headers["X-Nomad-KnownLeader"] == "true"
    stubs = r.json()
    assert sorted(s["Name"] for s in stubs) == ["n001", "n002", "n003", "n004"]
    assert "NodeResources" not in stubs[0]
    assert stubs[0]["Status"] == "ready"
    assert stubs[0]["SchedulingEligibility"] == "eligible"
    assert stubs[0]["Drivers"]["raw_exec"]["Healthy"] is True
    with_res = nomad.get("/v1/nodes", params={"resources": "true"}).json()
    assert with_res[0]["NodeResources"]["Cpu"]["CpuShares"] == 16000
    assert with_res[0]["NodeResources"]["Memory"]["MemoryMB"] == 65536


def test_node_get_and_unknown_node(farm: SimFarm, nomad: httpx.Client) -> None:
    node_id = farm.node_id("n002")
    node = nomad.get(f"/v1/node/{node_id}").json()
    assert node["Name"] == "n002"
    assert node["Attributes"]["unique.hostname"] == "n002"
    assert node["NodeClass"] == "n"
    r = nomad.get("/v1/node/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    assert r.text == "node not found"


def test_gpu_nodes_fingerprint_a_device_group() -> None:
    with SimFarm([NodeSpec("g1", gpus=2, gpu_vendor="amd")], seed=1) as farm:
        node = httpx.get(f"{farm.nomad_addr}/v1/node/{farm.node_id('g1')}").json()
    (dev,) = node["NodeResources"]["Devices"]
    assert (dev["Vendor"], dev["Type"], dev["Name"]) == ("amd", "gpu", "MI50")
    assert len(dev["Instances"]) == 2
    assert all(i["ID"].startswith("GPU-") for i in dev["Instances"])
