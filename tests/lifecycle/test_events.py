import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nomadctl.lifecycle import events as ev
from nomadctl.lifecycle.events import Event, OpStatus


def test_opstatus_numbers_match_the_proto() -> None:
    assert [(s.name, s.value) for s in OpStatus] == [
        ("NULL", 0),
        ("STARTED", 1),
        ("ONGOING", 2),
        ("DONE_OK", 3),
        ("DONE_ERROR", 4),
        ("DONE_TIMEOUT", 5),
    ]


SAMPLES = [
    (
        ev.EnvironmentEvent(
            environment_id="2oDvieFrVTi",
            state="CONFIGURED",
            run_number=7,
            transition="START_ACTIVITY",
            transition_step="before_START_ACTIVITY",
            transition_status=OpStatus.ONGOING,
            message="transition step starting",
            vars={"a": "1"},
            last_request_user=ev.User("alice", external_id=3),
            workflow_template_info=ev.WorkflowTemplateInfo("readout-dataflow", "d", "repo/wf", True),
        ),
        "environmentEvent",
        [
            "environmentId",
            "state",
            "runNumber",
            "error",
            "message",
            "transition",
            "transitionStep",
            "transitionStatus",
            "vars",
            "lastRequestUser",
            "workflowTemplateInfo",
        ],
    ),
    (
        ev.TaskEvent(
            name="shell-command#id1",
            taskid="id1",
            state="DONE",
            status="INACTIVE",
            hostname="flp1",
            class_name="shell-command",
            traits=ev.Traits("DESTROY", "DESTROY", "10s", True),
            environment_id="e",
            path="wf.h",
        ),
        "taskEvent",
        ["name", "taskid", "state", "status", "hostname", "className", "traits", "environmentId", "path"],
    ),
    (
        ev.CallEvent(
            func="odc.Start()",
            call_status=OpStatus.DONE_TIMEOUT,
            return_="odc_out",
            traits=ev.Traits("before_START_ACTIVITY+100", "after_START_ACTIVITY-10", "30s", True),
            output="x",
            error="timed out",
            environment_id="e",
            path="wf.odc.start",
        ),
        "callEvent",
        ["func", "callStatus", "return", "traits", "output", "error", "environmentId", "path"],
    ),
    (
        ev.RoleEvent(
            name="readout", status="ACTIVE", state="RUNNING", role_path="wf.h.readout", environment_id="e"
        ),
        "roleEvent",
        ["name", "status", "state", "rolePath", "environmentId"],
    ),
    (
        ev.RunEvent(
            environment_id="e",
            run_number=9,
            state="RUNNING",
            transition="TEARDOWN",
            transition_status=OpStatus.STARTED,
            last_request_user=ev.User("bob"),
        ),
        "runEvent",
        ["environmentId", "runNumber", "state", "error", "transition", "transitionStatus", "lastRequestUser"],
    ),
]


@pytest.mark.parametrize(("payload", "key", "fields"), SAMPLES)
def test_proto_json_shape_and_roundtrip(payload: ev.Payload, key: str, fields: list[str]) -> None:
    event = Event(payload, timestamp_ns=1_700_000_000_123_456_789)
    d = event.to_dict()
    assert d["timestamp"] == 1_700_000_000_123
    assert d["timestampNano"] == 1_700_000_000_123_456_789
    assert list(d[key]) == fields
    line = event.to_json_line()
    assert "\n" not in line
    assert Event.from_dict(json.loads(line)) == event


def test_enums_are_written_by_name_and_read_by_name_or_number() -> None:
    p = ev.CallEvent(func="f", call_status=OpStatus.DONE_ERROR)
    assert p.to_dict()["callStatus"] == "DONE_ERROR"
    assert ev.CallEvent.from_dict({"func": "f", "callStatus": 4}).call_status is OpStatus.DONE_ERROR
    assert ev.CallEvent.from_dict({"func": "f"}).call_status is OpStatus.NULL


def test_unset_messages_and_time_are_left_out() -> None:
    d = Event(ev.RunEvent(environment_id="e")).to_dict()
    assert d == {
        "runEvent": {
            "environmentId": "e",
            "runNumber": 0,
            "state": "",
            "error": "",
            "transition": "",
            "transitionStatus": "NULL",
        }
    }
    assert Event.from_dict(d).timestamp_ns is None


def test_stamped_keeps_an_existing_time() -> None:
    e = Event(ev.RoleEvent(name="r"))
    assert e.stamped(5).timestamp_ns == 5
    assert e.stamped(5).stamped(9).timestamp_ns == 5


def test_topics() -> None:
    assert Event(ev.RunEvent(environment_id="e")).topic == "aliecs.run"
    assert Event(ev.CallEvent(func="f")).topic == "aliecs.call"


def test_from_dict_rejects_unknown_payload() -> None:
    with pytest.raises(ValueError, match="no known payload"):
        Event.from_dict({"timestamp": 1, "beamModeEvent": {}})


def test_millisecond_only_timestamp_is_read() -> None:
    assert Event.from_dict({"timestamp": 2, "roleEvent": {"name": "r"}}).timestamp_ns == 2_000_000


@given(
    st.text(),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.sampled_from(list(OpStatus)),
    st.dictionaries(st.text(), st.text(), max_size=3),
)
def test_environment_event_roundtrip(
    env_id: str, rn: int, status: OpStatus, variables: dict[str, str]
) -> None:
    e = Event(ev.EnvironmentEvent(env_id, run_number=rn, transition_status=status, vars=variables), 1)
    assert Event.from_dict(json.loads(e.to_json_line())) == e
