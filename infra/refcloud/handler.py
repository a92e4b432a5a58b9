"""HTTP handling of the reference cloud: the contract's two endpoints, faults first."""

from __future__ import annotations

import json
import re
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from recovery_ledger.infra.refcloud.dpop_verifier import ProofRejected, verify_dpop_proof
from recovery_ledger.infra.refcloud.faults import Fault

if TYPE_CHECKING:
    from recovery_ledger.infra.refcloud.server import CloudServer

_LOOP_ROUTE = re.compile(r"^/v1/loops/(?P<loop_id>[^/]+)/(?P<action>status|heartbeat)$")
_MAX_REQUEST_BODY = 64 * 1024


class CloudHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CloudServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a request log would be one more place a header could leak."""

    # -- plumbing ------------------------------------------------------------------------

    def _send_json(self, code: int, document: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(code, json.dumps(document).encode(), headers)

    def _send_raw(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, _MAX_REQUEST_BODY)) if length > 0 else b""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("/admin/"):
            from recovery_ledger.infra.refcloud.admin import handle_admin

            body = self._read_body()
            code, document = handle_admin(self.server.cloud, method, path, body)
            self._send_json(code, document)
            return
        route = _LOOP_ROUTE.match(path)
        if route is None:
            self._read_body()
            self._send_json(404, {"error": "no such endpoint"})
            return
        loop_id, action = unquote(route["loop_id"]), route["action"]
        if action == "status" and method == "GET":
            self._status(loop_id)
        elif action == "heartbeat" and method == "POST":
            self._heartbeat(loop_id, path)
        else:
            self._read_body()
            self._send_json(405, {"error": "method not allowed"})

    # -- faults -----------------------------------------------------------------------

    def _apply_fault(self, fault: Fault | None) -> bool:
        """Answer per the fault; True when the request is fully handled by it."""
        if fault is None:
            return False
        if fault.latency:
            time.sleep(fault.latency)
        if fault.hang:
            time.sleep(3600)
            return True
        if fault.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if fault.status is not None:
            headers = {"Location": fault.redirect_to} if 300 <= fault.status < 400 else None
            self._send_json(fault.status, {"error": "injected"}, headers)
            return True
        if fault.body is not None:
            self._send_raw(200, fault.body.encode())
            return True
        if fault.oversized_mb:
            self._send_oversized(fault.oversized_mb)
            return True
        return False

    def _send_oversized(self, megabytes: int) -> None:
        # No Content-Length: the client must cap what it reads while streaming.
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b'{"pad": "' + b"x" * (1024 * 1024)
        try:
            for _ in range(megabytes):
                self.wfile.write(chunk)
        except OSError:
            pass  # the client hung up once it had enough: the point of the exercise

    # -- the contract -----------------------------------------------------------------

    def _loop_or_answer(self, loop_id: str) -> bool:
        loop = self.server.cloud.loop(loop_id)
        if loop is None:
            self._send_json(404, {"error": "no such loop"})
            return False
        if loop.deleted:
            self._send_json(410, {"error": "loop is gone"})
            return False
        return True

    def _status(self, loop_id: str) -> None:
        cloud = self.server.cloud
        cloud.stat(loop_id).status_gets += 1
        if self._apply_fault(cloud.faults.take(loop_id, "status")):
            return
        if not self._loop_or_answer(loop_id):
            return
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        claims = cloud.authority.claims(token, loop_id=loop_id, allow_expired=False)
        loop = cloud.loop(loop_id)
        assert loop is not None
        if claims is None or claims["jti"] not in loop.valid_jtis:
            self._send_json(401, {"error": "runner token rejected"})
            return
        self._send_json(200, {"loop_id": loop_id, "status": loop.status})

    def _heartbeat(self, loop_id: str, path: str) -> None:
        cloud = self.server.cloud
        stats = cloud.stat(loop_id)
        stats.heartbeat_posts += 1
        body = self._read_body()
        fault = cloud.faults.take(loop_id, "heartbeat")
        if self._apply_fault(fault):
            return
        if not self._loop_or_answer(loop_id):
            return
        auth = self.headers.get("Authorization", "")
        stale = auth[len("DPoP ") :] if auth.startswith("DPoP ") else ""
        # A stale (expired or superseded) token still identifies the loop: that is
        # what the PoP heartbeat is for. It must be one this cloud issued for it.
        claims = cloud.authority.claims(stale, loop_id=loop_id, allow_expired=True)
        loop = cloud.loop(loop_id)
        assert loop is not None
        if claims is None or claims["jti"] not in loop.issued_jtis:
            stats.last_heartbeat_error = "stale token not issued for this loop"
            self._send_json(401, {"error": "runner token unknown"})
            return
        try:
            verified = verify_dpop_proof(
                self.headers.get("DPoP", ""),
                htm="POST",
                htu=self.server.base_url + path,
                access_token=stale,
                now=int(time.time()),
                replay_cache=cloud.replay_cache,
            )
        except ProofRejected as rejected:
            stats.last_heartbeat_error = rejected.reason
            self._send_json(401, {"error": f"proof rejected: {rejected.reason}"})
            return
        if verified.thumbprint not in cloud.keys:
            stats.last_heartbeat_error = "managed key not registered"
            self._send_json(401, {"error": "managed key not registered"})
            return
        if not _body_ok(body, loop_id, claims["jti"]):
            stats.last_heartbeat_error = "bad body"
            self._send_json(400, {"error": "bad heartbeat body"})
            return
        stats.last_heartbeat_error = None
        if (fault is not None and fault.revived_false) or not (
            loop.revivable and loop.status == "active"
        ):
            self._send_json(200, {"revived": False})
            return
        self._revived(loop_id, fault.malformed if fault is not None else None)

    def _revived(self, loop_id: str, malformed: str | None) -> None:
        from datetime import UTC, datetime

        cloud = self.server.cloud
        issued = cloud.revive(loop_id, ttl_s=-60 if malformed == "expired" else 3600)
        token, jti = issued.token, issued.jti
        if malformed == "jti_mismatch":
            jti = jti + "-not-this-one"
        elif malformed == "not_jwt":
            token = "this-is-not-a-jwt"  # noqa: S105 - a deliberate fault, not a secret
        elif malformed == "wrong_sub":
            token = cloud.authority.issue("another-loop", 3600, jti=jti).token
        elif malformed in ("alg_none", "oversized_token"):
            token = _reshaped(token, malformed)
        expires = datetime.fromtimestamp(issued.expires_at, UTC).isoformat().replace("+00:00", "Z")
        self._send_json(200, {"revived": True, "token": token, "jti": jti, "expires_at": expires})


def _reshaped(token: str, fault: str) -> str:
    """The token with its header saying ``alg: none``, or its payload padded past 16 KiB;
    the other parts kept, so that only the one rule it breaks can refuse it."""
    import base64

    def b64(document: dict[str, Any]) -> str:
        raw = json.dumps(document).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header, payload, signature = token.split(".")
    if fault == "alg_none":
        return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.{signature}"
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{b64({**claims, 'pad': 'x' * 60_000})}.{signature}"


def _body_ok(body: bytes, loop_id: str, jti: str) -> bool:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return False
    return (
        isinstance(document, dict)
        and document.get("loop_id") == loop_id
        and document.get("reason") == "boot_recovery"
        and document.get("runner_jti") == jti
    )
