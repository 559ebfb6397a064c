"""Helpers for client unit tests: an httpx MockTransport router and a sleep recorder."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest


class Router:
    """Routes requests by (method, path) to handlers; records every request it saw."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Callable[[httpx.Request], httpx.Response]]] = {}
        self.requests: list[httpx.Request] = []

    def add(self, method: str, path: str, *responses):
        """Queue responses (httpx.Response, exception, or callable) for a route; the last repeats."""
        handlers = []
        for r in responses:
            if isinstance(r, BaseException):
                handlers.append(lambda req, r=r: (_ for _ in ()).throw(r))
            elif callable(r) and not isinstance(r, httpx.Response):
                handlers.append(r)
            else:
                handlers.append(lambda req, r=r: r)
        self.routes.setdefault((method, path), []).extend(handlers)
        return self

    def json(self, method: str, path: str, body, *, status=200, headers=None):
        return self.add(method, path, httpx.Response(status, json=body, headers=headers or {}))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.raw_path.decode().split("?")[0])
        handlers = self.routes.get(key)
        if not handlers:
            return httpx.Response(404, text=f"no route {key}")
        handler = handlers.pop(0) if len(handlers) > 1 else handlers[0]
        return handler(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self, i: int = -1):
        return json.loads(self.requests[i].content)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def router() -> Router:
    return Router()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
