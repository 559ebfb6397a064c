"""Fixtures for the policies tests: a JWKS endpoint and a JWT signer (OpenBao: tests/conftest.py).

Nomad signs workload identities with RS256 and serves its public keys at
``/.well-known/jwks.json``; the tests play that part with a pure-Python RSA key (no crypto
library in the dependency set) and a loopback HTTP server, so Vault's JWT auth is exercised
exactly as in production: it fetches the JWKS from ``jwks_url`` and verifies each login's JWT.

The OpenBao server is the session's ``openbao`` fixture (``tests/conftest.py``).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT = 30.0


# --- RSA, JWKS and JWTs ------------------------------------------------------------------------

_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2))]


def _probable_prime(n: int, rounds: int = 16) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, e: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if candidate % e != 1 and _probable_prime(candidate):
            return candidate


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


@dataclass(frozen=True)
class RsaKey:
    """An RSA key pair that signs RS256 JWTs and describes itself as a JWK."""

    n: int
    e: int
    d: int
    kid: str

    @classmethod
    def generate(cls, bits: int = 2048) -> RsaKey:
        e = 65537
        while True:
            p, q = _prime(bits // 2, e), _prime(bits // 2, e)
            if p != q and (p * q).bit_length() == bits:
                break
        phi = (p - 1) * (q - 1)
        return cls(n=p * q, e=e, d=pow(e, -1, phi), kid=secrets.token_hex(8))

    def jwk(self) -> dict[str, str]:
        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": _b64url(_int_bytes(self.n)),
            "e": _b64url(_int_bytes(self.e)),
        }

    def sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        ).encode()
        # EMSA-PKCS1-v1_5 with the SHA-256 DigestInfo prefix (RFC 8017 §9.2).
        digest_info = (
            bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(signing_input).digest()
        )
        k = (self.n.bit_length() + 7) // 8
        encoded = b"\x00\x01" + b"\xff" * (k - len(digest_info) - 3) + b"\x00" + digest_info
        signature = pow(int.from_bytes(encoded, "big"), self.d, self.n).to_bytes(k, "big")
        return signing_input.decode() + "." + _b64url(signature)


def nomad_claims(
    namespace: str, job: str, *, task: str = "main", aud: str = "vault.io", ttl: int = 300
) -> dict:
    """Claims shaped like a Nomad workload identity for the task ``task`` of ``job``."""
    now = int(time.time())
    return {
        "aud": aud,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "sub": f"global:{namespace}:{job}:group:{task}:vault_default",
        "nomad_namespace": namespace,
        "nomad_job_id": job,
        "nomad_task": task,
        "nomad_allocation_id": secrets.token_hex(16),
    }


@pytest.fixture(scope="session")
def rsa_key() -> RsaKey:
    return RsaKey.generate()


@pytest.fixture(scope="session")
def jwks_url(rsa_key):
    """A loopback HTTP server answering /.well-known/jwks.json with the test key, as Nomad does."""
    body = json.dumps({"keys": [rsa_key.jwk()]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/.well-known/jwks.json":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(scope="session")
def policies_dir() -> Path:
    return POLICIES_DIR


# --- in-memory Nomad and Consul ACL APIs (httpx MockTransport handlers) ------------------------


class FakeNomadAcl:
    """The Nomad ACL/namespace endpoints nomadctl uses, in memory; records every request.

    A 1.x ``version`` rejects policies naming 2.0-only capabilities, as a real 1.x server does.
    """

    def __init__(self, version: str = "2.0.5", token: str | None = None) -> None:
        self.version = version
        self.token = token
        self.policies: dict[str, dict] = {}
        self.namespaces: dict[str, dict] = {
            "default": {"Name": "default", "Description": "Default shared namespace"}
        }
        self.requests: list[httpx.Request] = []

    def writes(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests if r.method != "GET"]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        from nomadctl.policies import nomad_caps

        self.requests.append(request)
        if self.token is not None and request.headers.get("X-Nomad-Token") != self.token:
            return httpx.Response(
                403, text=f"Permission denied for token {request.headers.get('X-Nomad-Token')}"
            )
        path, method = request.url.path, request.method
        if path == "/v1/agent/self":
            return httpx.Response(200, json={"config": {"Version": {"Version": self.version}}, "member": {}})
        if path == "/v1/acl/policies":
            return httpx.Response(
                200,
                json=[{"Name": p["Name"], "Description": p["Description"]} for p in self.policies.values()],
            )
        if path.startswith("/v1/acl/policy/"):
            name = path.rsplit("/", 1)[1]
            if method == "GET":
                if name not in self.policies:
                    return httpx.Response(404, text="ACL policy not found")
                return httpx.Response(200, json=self.policies[name])
            body = json.loads(request.content)
            allowed = nomad_caps.namespace_capabilities(nomad_caps.parse_version(self.version))
            unknown = set(nomad_caps.NAMESPACE_CAPABILITIES_2X - allowed)
            if any(f'"{cap}"' in body["Rules"] for cap in unknown):
                return httpx.Response(400, text="Failed to parse ACL policy: invalid namespace capability")
            self.policies[name] = body
            return httpx.Response(200)
        if path == "/v1/namespaces":
            return httpx.Response(200, json=list(self.namespaces.values()))
        if path.startswith("/v1/namespace/"):
            name = path.rsplit("/", 1)[1]
            if method == "GET":
                if name not in self.namespaces:
                    return httpx.Response(404, text="namespace not found")
                return httpx.Response(200, json=self.namespaces[name])
            self.namespaces[name] = json.loads(request.content)
            return httpx.Response(200)
        return httpx.Response(404, text=f"no route {method} {path}")


class FakeConsulAcl:
    """The Consul ACL policy/role endpoints nomadctl uses, in memory, with Consul's ID scheme."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.policies: dict[str, dict] = {}
        self.roles: dict[str, dict] = {}
        self.requests: list[httpx.Request] = []

    def writes(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests if r.method != "GET"]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.token is not None and request.headers.get("X-Consul-Token") != self.token:
            return httpx.Response(403, text="ACL not found")
        path, method = request.url.path, request.method
        if path == "/v1/acl/policies":
            return httpx.Response(
                200, json=[{k: v for k, v in p.items() if k != "Rules"} for p in self.policies.values()]
            )
        if path == "/v1/acl/policy" and method == "PUT":
            body = json.loads(request.content)
            if any(p["Name"] == body["Name"] for p in self.policies.values()):
                return httpx.Response(400, text="Invalid Policy: A Policy with Name already exists")
            body["ID"] = secrets.token_hex(8)
            self.policies[body["ID"]] = body
            return httpx.Response(200, json=body)
        if path.startswith("/v1/acl/policy/"):
            pid = path.rsplit("/", 1)[1]
            if pid not in self.policies:
                return httpx.Response(403, text="ACL not found")
            if method == "PUT":
                self.policies[pid] = json.loads(request.content)
            return httpx.Response(200, json=self.policies[pid])
        if path == "/v1/acl/roles":
            return httpx.Response(200, json=list(self.roles.values()))
        if path == "/v1/acl/role" and method == "PUT":
            body = json.loads(request.content)
            body["ID"] = secrets.token_hex(8)
            self.roles[body["ID"]] = body
            return httpx.Response(200, json=body)
        if path.startswith("/v1/acl/role/") and method == "PUT":
            rid = path.rsplit("/", 1)[1]
            self.roles[rid] = json.loads(request.content)
            return httpx.Response(200, json=self.roles[rid])
        return httpx.Response(404, text=f"no route {method} {path}")


@pytest.fixture
def fake_nomad() -> FakeNomadAcl:
    return FakeNomadAcl()


@pytest.fixture
def fake_consul() -> FakeConsulAcl:
    return FakeConsulAcl()
