"""The shared retry policy: what is retried, how long it waits, when it gives up. Never sleeps."""

from __future__ import annotations

import logging

import pytest

from nomadctl.clients import errors
from nomadctl.clients.retry import DEFAULT_RETRY, RetryPolicy, call_with_retry


def status_error(status, *, retry_after=None, backend="nomad"):
    return errors.error_for_status(
        backend, status, method="GET", path="/v1/x", body="nope", retry_after=retry_after
    )


def unreachable(*, sent):
    return errors.NomadUnreachable("cannot connect", method="POST", path="/v1/x", request_sent=sent)


class Script:
    """An attempt function that raises the scripted errors, then returns ``result``."""

    def __init__(self, *outcomes, result="ok"):
        self.outcomes = list(outcomes)
        self.calls = 0
        self.result = result

    def __call__(self):
        self.calls += 1
        if self.outcomes:
            raise self.outcomes.pop(0)
        return self.result


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        (status_error(500), True, True),
        (status_error(500), False, False),  # the server may have acted on it
        (status_error(502), True, True),
        (status_error(503), False, True),  # refused before acting
        (status_error(429), False, True),
        (status_error(404), True, False),
        (status_error(400), True, False),
        (status_error(403), True, False),
        (unreachable(sent=False), False, True),  # never left this host
        (unreachable(sent=True), False, False),
        (unreachable(sent=True), True, True),
        (ValueError("not an API error"), True, False),
        (
            errors.error_for_status(
                "nomad", 500, method="POST", path="/v1/job/x", body="Enforcing job modify index 1"
            ),
            True,
            False,
        ),
    ],
)
def test_should_retry(error, idempotent, expected):
    assert DEFAULT_RETRY.should_retry(error, idempotent=idempotent) is expected


def test_statuses_are_data():
    policy = RetryPolicy(statuses=frozenset({503}))
    assert policy.should_retry(status_error(503), idempotent=True)
    assert not policy.should_retry(status_error(500), idempotent=True)
    assert not RetryPolicy(retry_unreachable=False).should_retry(unreachable(sent=False), idempotent=True)


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(backoff_initial=0.5, backoff_multiplier=2, backoff_max=3)
    error = status_error(500)
    assert [policy.delay(error, n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_retry_after_overrides_backoff_unless_disabled():
    error = status_error(429, retry_after=7)
    assert RetryPolicy().delay(error, 1) == 7
    assert RetryPolicy(honour_retry_after=False, backoff_initial=0.1).delay(error, 1) == 0.1


def test_invalid_policies_are_refused():
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(backoff_multiplier=0.5)


def test_succeeds_after_transient_failures_without_real_sleep():
    sleeps = Sleeps()
    attempt = Script(status_error(503), status_error(502))
    assert (
        call_with_retry(DEFAULT_RETRY, attempt, what="Nomad GET /v1/x", idempotent=True, sleep=sleeps) == "ok"
    )
    assert attempt.calls == 3
    assert sleeps == [0.25, 0.5]


def test_gives_up_after_attempts_and_reports_them():
    sleeps = Sleeps()
    attempt = Script(*(status_error(500) for _ in range(10)))
    with pytest.raises(errors.NomadServerError) as info:
        call_with_retry(
            RetryPolicy(attempts=3), attempt, what="Nomad GET /v1/x", idempotent=True, sleep=sleeps
        )
    assert attempt.calls == 3
    assert len(sleeps) == 2
    assert info.value.attempts == 3
    assert "(after 3 attempts)" in str(info.value)


def test_non_retryable_error_is_raised_at_once():
    sleeps = Sleeps()
    attempt = Script(status_error(404))
    with pytest.raises(errors.NomadNotFound) as info:
        call_with_retry(DEFAULT_RETRY, attempt, what="x", idempotent=True, sleep=sleeps)
    assert attempt.calls == 1
    assert sleeps == []
    assert info.value.attempts == 1


def test_non_retryable_after_retryable_counts_attempts():
    attempt = Script(status_error(503), status_error(403))
    with pytest.raises(errors.NomadForbidden) as info:
        call_with_retry(DEFAULT_RETRY, attempt, what="x", idempotent=True, sleep=Sleeps())
    assert info.value.attempts == 2


def test_post_is_not_repeated_after_a_500():
    attempt = Script(status_error(500))
    with pytest.raises(errors.NomadServerError):
        call_with_retry(DEFAULT_RETRY, attempt, what="x", idempotent=False, sleep=Sleeps())
    assert attempt.calls == 1


def test_post_is_repeated_after_a_refused_connection():
    attempt = Script(unreachable(sent=False))
    assert call_with_retry(DEFAULT_RETRY, attempt, what="x", idempotent=False, sleep=Sleeps()) == "ok"
    assert attempt.calls == 2


def test_retry_after_is_honoured():
    sleeps = Sleeps()
    attempt = Script(status_error(429, retry_after=2.5))
    call_with_retry(DEFAULT_RETRY, attempt, what="x", idempotent=True, sleep=sleeps)
    assert sleeps == [2.5]


def test_retry_after_beyond_the_maximum_gives_up_at_once():
    sleeps = Sleeps()
    attempt = Script(status_error(429, retry_after=3600))
    with pytest.raises(errors.NomadTooManyRequests):
        call_with_retry(DEFAULT_RETRY, attempt, what="x", idempotent=True, sleep=sleeps)
    assert attempt.calls == 1
    assert sleeps == []


def test_total_wait_is_bounded():
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=100, backoff_initial=1, backoff_multiplier=1, max_total_wait=3.5)
    attempt = Script(*(status_error(503) for _ in range(100)))
    with pytest.raises(errors.NomadServerError):
        call_with_retry(policy, attempt, what="x", idempotent=True, sleep=sleeps)
    assert sleeps == [1, 1, 1]
    assert sum(sleeps) <= 3.5


def test_each_retry_is_logged_with_what_and_delay(caplog):
    caplog.set_level(logging.WARNING, logger="nomadctl.clients")
    attempt = Script(status_error(503), status_error(503), status_error(503), status_error(503))
    with pytest.raises(errors.NomadServerError):
        call_with_retry(DEFAULT_RETRY, attempt, what="Nomad GET /v1/x", idempotent=True, sleep=Sleeps())
    lines = [r.getMessage() for r in caplog.records]
    assert sum("retrying in" in line for line in lines) == 3
    assert any("giving up after 4 attempt(s)" in line for line in lines)
    assert all("Nomad GET /v1/x" in line for line in lines)
