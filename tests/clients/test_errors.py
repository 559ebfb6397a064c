"""Status → error class mapping, status-neutral mix-ins, and transport failures."""

from __future__ import annotations

import httpx
import pytest
import requests

from nomadctl.clients import errors
from nomadctl.errors import ApiError, NomadctlError

BACKENDS = ("nomad", "consul", "vault")

STATUS_CASES = [
    (400, errors.BadRequest, False),
    (401, errors.Forbidden, False),
    (403, errors.Forbidden, False),
    (404, errors.NotFound, False),
    (409, errors.Conflict, False),
    (429, errors.TooManyRequests, True),
    (500, errors.ServerError, True),
    (502, errors.ServerError, True),
    (503, errors.ServerError, True),
    (504, errors.ServerError, True),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("status", "neutral", "retryable"), STATUS_CASES)
def test_status_maps_to_backend_and_neutral_class(backend, status, neutral, retryable):
    error = errors.error_for_status(backend, status, method="GET", path="/v1/x", body="boom")
    base = errors.classes(backend)["base"]
    assert isinstance(error, base)
    assert isinstance(error, neutral)
    assert isinstance(error, ApiError)
    assert isinstance(error, NomadctlError)
    assert error.status == status
    assert error.retryable is retryable
    # the concrete class belongs to exactly one backend
    others = [errors.classes(b)["base"] for b in BACKENDS if b != backend]
    assert not any(isinstance(error, o) for o in others)


@pytest.mark.parametrize("backend", BACKENDS)
def test_other_statuses_become_the_backend_base(backend):
    error = errors.error_for_status(backend, 412, method="PUT", path="/v1/y", body="precondition")
    assert type(error) is errors.classes(backend)["base"]
    assert error.status == 412
    assert not error.retryable


def test_message_is_one_line_with_method_path_status_and_body():
    error = errors.error_for_status("nomad", 404, method="GET", path="/v1/job/x", body="job not\nfound\n")
    assert str(error) == "Nomad GET /v1/job/x: 404 job not found"
    assert error.one_line() == str(error)
    assert error.kind == "API"


def test_long_bodies_are_truncated_and_empty_ones_named():
    long = errors.error_for_status("consul", 500, method="GET", path="/v1/kv/a", body="x" * 5000)
    assert len(str(long)) < 400
    empty = errors.error_for_status("consul", 500, method="GET", path="/v1/kv/a", body="")
    assert "(empty response)" in str(empty)


def test_secrets_in_bodies_are_masked():
    error = errors.error_for_status(
        "vault", 403, method="GET", path="/v1/a", body="token s.SECRET123 denied", secrets=("s.SECRET123",)
    )
    assert "s.SECRET123" not in str(error)
    assert "<redacted>" in str(error)


def test_nomad_enforce_index_500_is_a_conflict_not_retryable():
    body = "rpc error: Enforcing job modify index 7: job exists with conflicting job modify index: 9"
    error = errors.error_for_status("nomad", 500, method="POST", path="/v1/job/x", body=body)
    assert isinstance(error, errors.NomadConflict)
    assert isinstance(error, errors.Conflict)
    assert error.status == 500
    assert not error.retryable


def test_vault_cas_mismatch_400_is_a_conflict():
    body = "check-and-set parameter did not match the current version"
    error = errors.error_for_status("vault", 400, method="POST", path="/v1/secret/data/x", body=body)
    assert isinstance(error, errors.VaultConflict)
    assert not isinstance(error, errors.BadRequest)


def test_attempts_are_reported_in_the_message():
    error = errors.error_for_status("nomad", 503, method="GET", path="/v1/jobs", body="No cluster leader")
    error.attempts = 4
    assert str(error).endswith("(after 4 attempts)")


@pytest.mark.parametrize(
    ("exc", "sent"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), False),
        (httpx.ConnectTimeout("timed out"), False),
        (httpx.PoolTimeout("pool"), False),
        (httpx.ReadTimeout("read"), True),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), True),
        (httpx.WriteError("broken pipe"), True),
        (requests.exceptions.ConnectTimeout("connect timeout"), False),
        (requests.exceptions.ConnectionError("HTTPConnectionPool: NewConnectionError refused"), False),
        (requests.exceptions.ConnectionError("Connection aborted. RemoteDisconnected"), True),
        (requests.exceptions.ReadTimeout("read timeout"), True),
    ],
)
def test_transport_failures_are_unreachable_with_request_sent(exc, sent):
    error = errors.error_for_transport("consul", exc, method="GET", path="/v1/kv/a")
    assert isinstance(error, errors.ConsulUnreachable)
    assert isinstance(error, errors.Unreachable)
    assert error.retryable
    assert error.status is None
    assert error.request_sent is sent


def test_transport_message_does_not_repeat_library_text():
    exc = httpx.ConnectError("connect to http://user:pw@host/v1?token=abc failed: refused")
    error = errors.error_for_transport("nomad", exc, method="GET", path="/v1/jobs")
    assert "abc" not in str(error)
    assert "pw" not in str(error)
    assert str(error) == "Nomad GET /v1/jobs: cannot connect (connection refused)"


def test_tls_verification_failure_is_named():
    exc = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error = errors.error_for_transport("vault", exc, method="GET", path="/v1/sys/health")
    assert "TLS certificate verification failed" in str(error)


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("", None), ("7", 7.0), (" 2.5 ", 2.5), ("-3", 0.0), ("soon", None)],
)
def test_retry_after_seconds(header, expected):
    assert errors.parse_retry_after(header) == expected


def test_retry_after_http_date_uses_given_clock():
    # Wed, 21 Oct 2015 07:28:00 GMT = 1445412480
    assert errors.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert errors.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0


def test_nomad_job_validation_500_is_a_bad_request():
    body = "1 error occurred:\n\t* Task group web validation failed: 1 error occurred:\n\t* Missing driver"
    error = errors.error_for_status("nomad", 500, method="POST", path="/v1/job/x", body=body)
    assert isinstance(error, errors.NomadBadRequest)
    assert error.status == 500
    assert not error.retryable
    body = "rpc error: no leader"
    plain = errors.error_for_status("nomad", 500, method="POST", path="/v1/job/x", body=body)
    assert isinstance(plain, errors.NomadServerError)
