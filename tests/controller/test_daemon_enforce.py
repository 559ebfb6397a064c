"""NMIN enforcement (``controller.enforce``): iterations driven one by one with synthetic watcher
changes, against a real Controller whose KV is the simulated farm's Consul (loopback HTTP).

The environment is the EPN example (a replicated ``reco`` group, n = 10, nmin = 8, and a
``qc001`` host group), created for real and then put in the state each test needs.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from nomadctl.clients.config import ConsulConfig, NomadConfig
from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.nomad import NomadClient
from nomadctl.controller import enforce
from nomadctl.controller.enforce import EnvEnforcer, Target
from nomadctl.controller.health_record import DONE, PENDING, SKIPPED, GoErrorDecision, HealthStore
from nomadctl.controller.leader import LeadershipLost
from nomadctl.controller.model import CreateRequest
from nomadctl.controller.record import InProgress
from nomadctl.controller.service import Controller
from nomadctl.controller.settings import Settings
from nomadctl.health.predicate import AllocView, GroupKind, NodeView, TaskView
from nomadctl.health.watcher import Change, Tracked
from nomadctl.lifecycle.events import EnvironmentEvent
from nomadctl.lifecycle.fsm import State
from nomadctl.sim import SimFarm

ROOT = Path(__file__).resolve().parents[2]
_index = itertools.count(100)


@pytest.fixture(scope="module")
def farm() -> Iterator[SimFarm]:
    with SimFarm([], seed=5) as f:
        yield f


@pytest.fixture
def controller(farm: SimFarm) -> Iterator[Controller]:
    nomad = NomadClient(NomadConfig(address=farm.nomad_addr))
    consul = ConsulClient(ConsulConfig(address=farm.consul_addr))
    settings = Settings(
        nomad_version="2.0.5", lock_delay=0, lock_wait=0.5, max_wait=2, controller_id="test-1"
    )
    with Controller(nomad, consul, settings) as c:
        yield c
    nomad.close()
    consul.close()


class Fence:
    def __init__(self) -> None:
        self.leading = True
        self.calls = 0

    def fence(self) -> None:
        self.calls += 1
        if not self.leading:
            raise LeadershipLost("not the leader (test)")


def create(controller: Controller, state: State = State.RUNNING) -> str:
    request = CreateRequest(
        "epn-processing",
        str(ROOT / "examples"),
        user_vars={"odc_n_epns": "10", "odc_n_epns_max_fail": "2"},
        providers=str(ROOT / "examples" / "providers.yaml"),
    )
    env_id = controller.create(request).env_id
    set_state(controller, env_id, state)
    return env_id


def set_state(controller: Controller, env_id: str, state: State, **changes: object) -> None:
    rec = controller.record(env_id)
    controller.store.put(rec.with_(lifecycle=rec.lifecycle.with_state(state), **changes))


def groups_of(controller: Controller, env_id: str) -> tuple[Target, ...]:
    return enforce.targets(controller.planner.plan(controller.record(env_id)).jobset)


def change(groups: tuple[Target, ...], *, down: int = 0, dead_host_task: bool = False) -> Change:
    """Every group fully running, except ``down`` replicas of the replicated group on nodes that
    are disconnected, and (``dead_host_task``) the host group's critical tasks dead."""
    allocs: dict[str, Tracked] = {}
    nodes: dict[str, NodeView] = {}
    for t in groups:
        for i in range(t.spec.count):
            node_id = f"{t.spec.name}-node{i}"
            lost = t.spec.kind is GroupKind.REPLICATED and i < down
            nodes[node_id] = NodeView(node_id, node_id, "disconnected" if lost else "ready")
            dead = dead_host_task and t.spec.kind is GroupKind.HOST
            tasks = {
                name: TaskView("dead", failed=True) if dead else TaskView("running")
                for name in t.spec.critical_tasks
            }
            alloc_id = f"{t.spec.name}-{i:04d}"
            view = AllocView(
                alloc_id,
                node_id,
                t.spec.name,
                "run",
                "unknown" if lost else ("failed" if dead else "running"),
                node_name=node_id,
                tasks=tasks,
            )
            allocs[alloc_id] = Tracked(view, t.job_id, next(_index))
    return Change(next(_index), allocs, nodes, relisted=False, received=0.0, trigger="test")


def env_messages(controller: Controller, env_id: str) -> list[str]:
    return [
        e.payload.message
        for e in controller.events(env_id).tail(200)
        if isinstance(e.payload, EnvironmentEvent)
    ]


def go_error_announcements(controller: Controller, env_id: str) -> int:
    return sum(1 for m in env_messages(controller, env_id) if "GO_ERROR transition imminent" in m)


def enforcer(
    controller: Controller, env_id: str, fence: Fence | None = None, **kwargs: object
) -> EnvEnforcer:
    e = EnvEnforcer(
        controller,
        env_id,
        groups_of(controller, env_id),
        fence=fence or Fence(),
        clock=controller.clock,
        **kwargs,  # type: ignore[arg-type]
    )
    return e


def test_targets_are_the_long_running_groups(controller: Controller) -> None:
    env_id = create(controller)
    by_name = {t.spec.name: t for t in groups_of(controller, env_id)}
    assert set(by_name) == {"reco", "qc001"}
    reco = by_name["reco"].spec
    assert (reco.kind, reco.count, reco.effective_nmin) == (GroupKind.REPLICATED, 10, 8)
    assert by_name["qc001"].spec.kind is GroupKind.HOST
    assert by_name["qc001"].spec.critical_tasks


def test_degraded_then_recovered_are_recorded_and_announced_once(controller: Controller) -> None:
    env_id = create(controller)
    e = enforcer(controller, env_id)
    groups = e.groups
    first = e.on_change(change(groups))
    assert first is not None
    assert first.decision.state == "OK"
    assert not first.decision.actions
    assert e.on_change(change(groups)) is None  # nothing changed: nothing written
    degraded = e.on_change(change(groups, down=2))
    assert degraded is not None
    assert degraded.go_error is None
    health = HealthStore(controller.consul, controller.keys).get(env_id)
    assert health.state == "DEGRADED"
    assert (health.groups["reco"].healthy, health.groups["reco"].state) == (8, "DEGRADED")
    assert health.announce == ()  # announced, then cleared
    assert e.on_change(change(groups, down=2)) is None
    e.on_change(change(groups))
    messages = [m for m in env_messages(controller, env_id) if m.startswith("health:")]
    assert len(messages) == 2
    assert "reco: 8/10 nodes healthy (nmin 8)" in messages[0]
    assert "DEGRADED" in messages[0]
    assert messages[1] == "health: group reco back to OK: 10/10 nodes healthy (was DEGRADED)"
    assert controller.record(env_id).state == "RUNNING"  # degraded never changes the state
    assert HealthStore(controller.consul, controller.keys).get(env_id).state == "OK"


def test_failed_group_is_decided_and_recorded_before_go_error(controller: Controller) -> None:
    env_id = create(controller)
    seen_at_checkpoint: list[GoErrorDecision | None] = []
    store = HealthStore(controller.consul, controller.keys)

    def checkpoint(name: str) -> None:
        if name == "health:decided":
            seen_at_checkpoint.append(store.get(env_id).go_error)
            assert controller.record(env_id).state == "RUNNING"  # recorded, not yet acted on

    e = enforcer(controller, env_id, checkpoint=checkpoint)
    e.on_change(change(e.groups))
    done = e.on_change(change(e.groups, down=3))
    assert done is not None
    assert done.go_error is not None
    assert seen_at_checkpoint[0] is not None
    assert seen_at_checkpoint[0].status == PENDING
    assert "group reco: 7/10 nodes healthy (nmin 8)" in seen_at_checkpoint[0].reason
    decision = store.get(env_id).go_error
    assert decision is not None
    assert decision.status == DONE
    assert decision.outcome == "GO_ERROR ok: RUNNING -> ERROR"
    assert controller.record(env_id).state == "ERROR"
    assert go_error_announcements(controller, env_id) == 1
    # still failed, failing more, and failing again after recovering: never a second GO_ERROR
    assert e.on_change(change(e.groups, down=3)) is None
    e.on_change(change(e.groups, down=4))
    e.on_change(change(e.groups))
    e.on_change(change(e.groups, down=5))
    assert go_error_announcements(controller, env_id) == 1
    assert store.get(env_id).go_error.id == decision.id  # type: ignore[union-attr]
    assert any("already issued" in m for m in env_messages(controller, env_id))


def test_dead_critical_task_of_a_host_group_is_go_error(controller: Controller) -> None:
    env_id = create(controller, State.CONFIGURED)
    e = enforcer(controller, env_id)
    e.on_change(change(e.groups))
    done = e.on_change(change(e.groups, dead_host_task=True))
    assert done is not None
    assert done.go_error is not None
    assert done.go_error.groups == ("qc001",)
    assert "group qc001: critical task down" in done.go_error.reason
    assert controller.record(env_id).state == "ERROR"


def test_nothing_is_enforced_during_a_teardown(controller: Controller) -> None:
    env_id = create(controller)
    set_state(controller, env_id, State.RUNNING, in_progress=InProgress("DESTROY", "RUNNING", 1, "someone"))
    e = enforcer(controller, env_id)
    e.on_change(change(e.groups, down=4))
    decision = HealthStore(controller.consul, controller.keys).get(env_id).go_error
    assert decision is not None
    assert decision.status == SKIPPED
    assert decision.outcome == "environment is being torn down"
    assert controller.record(env_id).state == "RUNNING"
    assert go_error_announcements(controller, env_id) == 0
    assert any(
        "GO_ERROR not issued: environment is being torn down" in m for m in env_messages(controller, env_id)
    )


def test_a_new_leader_finishes_a_pending_decision(controller: Controller) -> None:
    env_id = create(controller)
    store = HealthStore(controller.consul, controller.keys)
    pending = GoErrorDecision(
        "abc", "group reco: 7/10 nodes healthy (nmin 8)", ("reco",), 1, "old-leader", "RUNNING"
    )
    store.put(store.get(env_id).with_(go_error=pending, announce=("health: left unannounced",)))
    e = enforcer(controller, env_id)
    e.resume()
    health = store.get(env_id)
    assert health.go_error is not None
    assert health.go_error.status == DONE
    assert controller.record(env_id).state == "ERROR"
    assert go_error_announcements(controller, env_id) == 1
    assert "health: left unannounced" in env_messages(controller, env_id)
    assert health.announce == ()
    # and a second resume (a third leader) does nothing more
    enforcer(controller, env_id).resume()
    assert go_error_announcements(controller, env_id) == 1


def test_a_pending_decision_already_carried_out_is_only_marked_done(controller: Controller) -> None:
    env_id = create(controller)
    controller.go_error(env_id, "group reco: 7/10 nodes healthy (nmin 8)")  # the old leader did it...
    store = HealthStore(controller.consul, controller.keys)
    pending = GoErrorDecision("abd", "group reco: 7/10", ("reco",), 1, "old-leader", "RUNNING")
    store.put(store.get(env_id).with_(go_error=pending))  # ...and died before marking it
    enforcer(controller, env_id).resume()
    decision = store.get(env_id).go_error
    assert decision is not None
    assert decision.status == DONE
    assert "already happened" in decision.outcome
    assert go_error_announcements(controller, env_id) == 1


def test_a_replica_that_lost_the_leadership_writes_nothing(controller: Controller) -> None:
    env_id = create(controller)
    fence = Fence()
    e = enforcer(controller, env_id, fence)
    e.on_change(change(e.groups))
    fence.leading = False
    with pytest.raises(LeadershipLost):
        e.on_change(change(e.groups, down=3))
    assert HealthStore(controller.consul, controller.keys).get(env_id).go_error is None
    assert controller.record(env_id).state == "RUNNING"


def test_a_lost_check_and_set_is_decided_again_not_dropped(controller: Controller) -> None:
    env_id = create(controller)
    store = HealthStore(controller.consul, controller.keys)
    e = enforcer(controller, env_id)
    e.on_change(change(e.groups))
    # another writer moves the record on behind this enforcer's back
    store.put(store.get(env_id).with_(controller="someone-else"))
    done = e.on_change(change(e.groups, down=2))
    assert done is not None
    assert store.get(env_id).groups["reco"].state == "DEGRADED"


def test_busy_environment_is_retried_until_its_transition_ends(controller: Controller) -> None:
    env_id = create(controller)
    attempts: list[int] = []
    lock = controller.consul.lock(controller.keys.lock(env_id), name="someone", ttl=10, lock_delay=0)
    assert lock.acquire(json.dumps({"controller": "other", "transition": "STOP_ACTIVITY"}))
    submitted: list[object] = []
    e = enforcer(controller, env_id, submit=submitted.append)
    e.on_change(change(e.groups))
    done = e.on_change(change(e.groups, down=3))
    assert done is not None
    assert done.go_error is not None
    assert len(submitted) == 1  # handed to a worker, not run on the watcher's thread

    def stop_wait(seconds: float) -> bool:
        attempts.append(1)
        lock.release()  # the other transition ends while we wait
        return False

    e.stop.wait = stop_wait  # type: ignore[method-assign]
    submitted[0]()  # type: ignore[operator]
    assert attempts == [1]  # busy once (after lock_wait), then done
    assert controller.record(env_id).state == "ERROR"
    decision = HealthStore(controller.consul, controller.keys).get(env_id).go_error
    assert decision is not None
    assert decision.status == DONE


def test_health_record_round_trip(controller: Controller) -> None:
    env_id = create(controller)
    e = enforcer(controller, env_id)
    e.on_change(change(e.groups, down=1))
    status = controller.show(env_id, events=0)
    assert status.health is not None
    assert status.health["state"] == "DEGRADED"
    assert status.health["groups"]["reco"]["healthy"] == 9
    assert status.to_dict()["health"]["controller"] == "test-1"
