"""The one retry policy of the three clients, as data, executed by tenacity.

What is retried: ``TooManyRequests``, ``ServerError`` and ``Unreachable`` (the ``retryable``
errors) whose status or failure kind the policy lists. A request that may change state (POST
without an idempotency token) is repeated only when the server cannot have acted on it: the
connection was never made, or the status is in ``unsafe_statuses`` (429 and 503 are refusals
before any work). How long: exponential backoff, or the server's ``Retry-After`` when it sends
one; a ``Retry-After`` above ``max_retry_after`` or a total wait above ``max_total_wait`` gives up
at once rather than block a controller step. Every retry is logged (method, path, error, delay:
never a token), and the error finally raised records how many attempts were made.

The sleep function is injected by the clients so tests never sleep; the policy itself never
reads a clock (the total wait is the sum of planned sleeps).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

import tenacity

from nomadctl.clients.errors import BackendError

__all__ = ["DEFAULT_RETRY", "NO_RETRY", "RetryPolicy", "call_with_retry"]

T = TypeVar("T")

log = logging.getLogger("nomadctl.clients")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long the clients retry a failed request; shared by Nomad, Consul and Vault.

    ``attempts`` counts the first try. Delays grow as ``backoff_initial * backoff_multiplier**n``
    capped at ``backoff_max``.
    """

    attempts: int = 4
    statuses: frozenset[int] = field(default_factory=lambda: frozenset({429, 500, 502, 503, 504}))
    unsafe_statuses: frozenset[int] = field(default_factory=lambda: frozenset({429, 503}))
    retry_unreachable: bool = True
    backoff_initial: float = 0.25
    backoff_multiplier: float = 2.0
    backoff_max: float = 4.0
    honour_retry_after: bool = True
    max_retry_after: float = 30.0
    max_total_wait: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.backoff_initial < 0 or self.backoff_max < 0 or self.backoff_multiplier < 1:
            raise ValueError("RetryPolicy backoff must be non-negative and non-shrinking")

    def with_attempts(self, attempts: int) -> RetryPolicy:
        """The same policy with another attempt count (``1`` = never retry)."""
        return replace(self, attempts=attempts)

    def should_retry(self, error: BaseException, *, idempotent: bool) -> bool:
        """Whether ``error`` is worth another attempt of a request of this kind."""
        if not isinstance(error, BackendError) or not error.retryable:
            return False
        if error.status is None:
            if not self.retry_unreachable:
                return False
            return idempotent or not error.request_sent
        if error.status not in self.statuses:
            return False
        return idempotent or error.status in self.unsafe_statuses

    def delay(self, error: BaseException, retry_number: int) -> float:
        """Seconds to wait before retry number ``retry_number`` (1-based) after ``error``."""
        retry_after = getattr(error, "retry_after", None)
        if self.honour_retry_after and retry_after is not None:
            return float(retry_after)
        backoff = self.backoff_initial * self.backoff_multiplier ** (retry_number - 1)
        return float(min(backoff, self.backoff_max))


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)


def call_with_retry(
    policy: RetryPolicy,
    attempt: Callable[[], T],
    *,
    what: str,
    idempotent: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``attempt`` until it returns, or raise its last error when the policy gives up.

    ``what`` names the request in log lines (``"Nomad GET /v1/jobs"``); it must never hold a
    token. Only ``BackendError`` is retried; anything else propagates at once.
    """

    def retry(state: tenacity.RetryCallState) -> bool:
        outcome = state.outcome
        if outcome is None or not outcome.failed:
            return False
        error = outcome.exception()
        if isinstance(error, BackendError):
            error.attempts = state.attempt_number
        return error is not None and policy.should_retry(error, idempotent=idempotent)

    def wait(state: tenacity.RetryCallState) -> float:
        assert state.outcome is not None
        error = state.outcome.exception()
        assert error is not None
        return policy.delay(error, state.attempt_number)

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        upcoming = state.upcoming_sleep
        error = state.outcome.exception() if state.outcome is not None else None
        if getattr(error, "retry_after", None) is not None and upcoming > policy.max_retry_after:
            return True
        return state.idle_for + upcoming > policy.max_total_wait

    def give_up(state: tenacity.RetryCallState) -> T:
        assert state.outcome is not None
        error = state.outcome.exception()
        log.warning("%s: giving up after %d attempt(s): %s", what, state.attempt_number, error)
        assert error is not None
        raise error

    def before_sleep(state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None
        log.warning(
            "%s: attempt %d/%d failed (%s); retrying in %.2f s",
            what,
            state.attempt_number,
            policy.attempts,
            state.outcome.exception(),
            state.upcoming_sleep,
        )

    retrying: tenacity.Retrying = tenacity.Retrying(
        sleep=sleep,
        retry=retry,
        wait=wait,
        stop=stop,
        before_sleep=before_sleep,
        retry_error_callback=give_up,
    )
    return retrying(attempt)
