"""HTTP plumbing for the farm's two servers (Nomad-like and Consul-like) on 127.0.0.1.

``http.server.ThreadingHTTPServer`` with HTTP/1.1 keep-alive: one thread per connection, which
is what blocking queries need (a held request parks its thread on the farm's condition, not on
a busy loop). Large bodies (allocation lists of an ALICE-sized job run to hundreds of MB, like
the real agent's) are written with chunked transfer encoding piece by piece from immutable
snapshots, so the farm's lock is never held while a client reads.

API fault injection happens here, before routing: ``5xx`` answers with the server's own style of
body, ``timeout`` holds the request unanswered for the rule's ``hold`` seconds (bounded, ended
early when the farm stops) and then closes the connection, ``drop`` closes it at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from nomadctl.sim import wire
from nomadctl.sim.faults import Faults

log = logging.getLogger("nomadctl.sim")
MAX_BODY = 64 * 1024 * 1024
_CHUNK = 256 * 1024


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: bytes

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def has(self, name: str) -> bool:
        return name in self.query

    def flag(self, name: str) -> bool:
        """A boolean query parameter; present without a value counts as true (as in Consul)."""
        values = self.query.get(name)
        if values is None:
            return False
        v = values[0].lower()
        return v in ("", "1", "true", "t", "yes")

    def json(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as e:
            raise wire.HTTPError(400, f"invalid character in JSON body: {e}") from None


class StreamWriter:
    """Writes chunks of a streaming response; ``closed`` turns true when the client went away."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self._h = handler
        self.closed = False

    def write(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        if not data or self.closed:
            return
        try:
            self._h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self._h.wfile.flush()
        except OSError:
            self.closed = True


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: Iterable[str] | None = None
    stream: Callable[[StreamWriter], None] | None = None

    @classmethod
    def json(cls, obj: Any, headers: dict[str, str] | None = None, status: int = 200) -> Response:
        return cls(status, {"Content-Type": "application/json", **(headers or {})}, wire.dumps(obj).encode())

    @classmethod
    def text_json(cls, text: str, headers: dict[str, str] | None = None) -> Response:
        return cls(200, {"Content-Type": "application/json", **(headers or {})}, text.encode())

    @classmethod
    def pieces(cls, parts: Iterable[str], headers: dict[str, str] | None = None) -> Response:
        return cls(200, {"Content-Type": "application/json", **(headers or {})}, chunks=parts)

    @classmethod
    def error(cls, status: int, text: str) -> Response:
        return cls(status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode())


Handler = Callable[[Request, "re.Match[str]"], Response]


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[frozenset[str], re.Pattern[str], Handler]] = []

    def add(self, methods: str, pattern: str, handler: Handler) -> None:
        self._routes.append((frozenset(methods.split()), re.compile(pattern + r"\Z"), handler))

    def dispatch(self, req: Request) -> Response:
        allowed = False
        for methods, rx, handler in self._routes:
            m = rx.match(req.path)
            if m is None:
                continue
            if req.method not in methods:
                allowed = True
                continue
            return handler(req, m)
        if allowed:
            return Response.error(405, "Invalid method")
        return Response.error(404, "Invalid URL path: not found")


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 256

    def __init__(
        self, name: str, router: Router, faults: Faults, stopping: threading.Event, error_body: str
    ) -> None:
        self.name = name
        self.router = router
        self.faults = faults
        self.stopping = stopping
        self.error_body = error_body
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nomadctl-sim"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls
    timeout = 120  # idle keep-alive connections end; also bounds a stalled client write
    server: SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
                if len(out) > MAX_BODY:
                    raise wire.HTTPError(413, "Request body too large")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise wire.HTTPError(413, "Request body too large")
        return self.rfile.read(length) if length else b""

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _serve(self) -> None:
        split = urlsplit(self.path)
        path = unquote(split.path)
        try:
            body = self._read_body()
        except (wire.HTTPError, ValueError) as e:
            self._send(Response.error(getattr(e, "status", 400), str(e)))
            return
        if not path.startswith("/sim/"):
            rule = self.server.faults.api_fault(self.server.name, path)
            if rule is not None:
                if rule.kind == "drop":
                    self._drop()
                    return
                if rule.kind == "timeout":
                    self.server.stopping.wait(rule.hold)
                    self._drop()
                    return
                self._send(Response.error(500, self.server.error_body))
                return
        req = Request(self.command, path, parse_qs(split.query, keep_blank_values=True), self.headers, body)
        try:
            resp = self.server.router.dispatch(req)
        except wire.HTTPError as e:
            resp = Response.error(e.status, e.text)
        except Exception as e:  # a bug in the farm must not kill the connection thread silently
            log.exception("sim %s: %s %s failed", self.server.name, self.command, path)
            resp = Response.error(500, f"sim internal error: {e}")
        self._send(resp)

    def _send(self, resp: Response) -> None:
        try:
            self.send_response(resp.status)
            for k, v in resp.headers.items():
                self.send_header(k, v)
            if resp.stream is not None or resp.chunks is not None:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                writer = StreamWriter(self)
                if resp.stream is not None:
                    resp.stream(writer)
                else:
                    assert resp.chunks is not None
                    for block in _blocks(resp.chunks):
                        writer.write(block)
                        if writer.closed:
                            break
                if not writer.closed:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                else:
                    self.close_connection = True
            else:
                self.send_header("Content-Length", str(len(resp.body)))
                self.end_headers()
                self.wfile.write(resp.body)
        except OSError:
            self.close_connection = True


def _blocks(parts: Iterable[str]) -> Iterator[bytes]:
    """Coalesce many small pieces into writes of about 256 KB."""
    buf: list[str] = []
    size = 0
    for p in parts:
        buf.append(p)
        size += len(p)
        if size >= _CHUNK:
            yield "".join(buf).encode()
            buf, size = [], 0
    if buf:
        yield "".join(buf).encode()
