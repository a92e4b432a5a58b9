"""The cloud client (docs/contract.md section 2): async, strict about every answer.

- TLS is verified; plain http only to loopback (``url_policy``).
- Redirects are never followed: a 3xx is a transient answer, and the token is
  never sent to a ``Location``.
- Bodies are streamed and capped: a hostile 1 GB answer is cut off at the cap
  and counts as ``malformed``; a compressed answer is never decompressed (``malformed``);
  every exchange has one overall time limit, so a trickling answer is a ``timeout``.
- Transport failures become the contract's error words: ``timeout`` or ``network``.
- A heartbeat is posted exactly once per call: no retries anywhere here.

The wire is ``http11.Http11Pool`` (why not httpx here: that module says, with numbers); the
``transport`` seam lets the unit tests answer without a socket.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from recovery_ledger.domain.errors import MalformedTokenError
from recovery_ledger.domain.observations import CLOUD_STATUSES, HeartbeatAnswer, StatusAnswer
from recovery_ledger.domain.runner_token import accept_runner_token
from recovery_ledger.infra.cloud.http11 import (
    Http11Pool,
    Request,
    Response,
    TransportFailure,
    TransportTimeout,
    verified_tls,
)
from recovery_ledger.infra.cloud.url_policy import check_cloud_url

DEFAULT_MAX_BODY_BYTES = 64 * 1024


class Transport(Protocol):
    async def send(self, request: Request) -> Response: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class HeartbeatResult:
    answer: HeartbeatAnswer
    fresh_token: str | None = None


class CloudClient:
    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_connections: int = 64,
        transport: Transport | None = None,
    ) -> None:
        self.base_url = check_cloud_url(base_url)
        self.request_timeout_s = connect_timeout + read_timeout
        parts = urlsplit(self.base_url)
        self._transport = transport or Http11Pool(
            f"{parts.scheme}://{parts.netloc}",
            tls=verified_tls() if parts.scheme == "https" else None,
            connect_timeout=connect_timeout,
            max_connections=max_connections,
            max_body_bytes=max_body_bytes,
            default_headers=(("User-Agent", "recovery-ledger"), ("Accept-Encoding", "identity")),
        )

    def __repr__(self) -> str:
        return f"CloudClient({self.base_url!r})"

    async def __aenter__(self) -> CloudClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._transport.aclose()

    def _loop_url(self, loop_id: str, action: str) -> str:
        return f"{self.base_url}/v1/loops/{quote(loop_id, safe='')}/{action}"

    def heartbeat_url(self, loop_id: str) -> str:
        """The exact URL of the heartbeat POST: what the proof's ``htu`` must say."""
        return self._loop_url(loop_id, "heartbeat")

    async def _exchange(self, request: Request) -> tuple[int, bytes | None]:
        """(status, body), the body None past the cap or compressed. The whole exchange has
        one time limit (connect + read): a server that trickles its answer a byte at a time
        (slowloris) never resets a read timeout forever; it ends as ``TransportTimeout``."""
        try:
            async with asyncio.timeout(self.request_timeout_s):
                response = await self._transport.send(request)
        except TimeoutError:
            raise TransportTimeout("the answer took too long") from None
        return response.status, response.body

    async def get_status(self, loop_id: str, runner_token: str) -> StatusAnswer:
        request = Request(
            "GET",
            self._loop_url(loop_id, "status"),
            (("Authorization", f"Bearer {runner_token}"),),
        )
        try:
            code, body = await self._exchange(request)
        except TransportTimeout:
            return StatusAnswer(None, error="timeout")
        except TransportFailure:
            return StatusAnswer(None, error="network")
        if code != 200:
            return StatusAnswer(code)
        document = _json_object(body)
        status = None if document is None else document.get("status")
        if document is None or document.get("loop_id") != loop_id or not isinstance(status, str):
            return StatusAnswer(200, error="malformed")
        if status not in CLOUD_STATUSES:
            return StatusAnswer(200, error="unrecognized_status")
        return StatusAnswer(200, status=status)

    async def post_heartbeat(
        self, loop_id: str, stale_token: str, stale_jti: str, proof_jwt: str, now: datetime
    ) -> HeartbeatResult:
        body = json.dumps(
            {"loop_id": loop_id, "reason": "boot_recovery", "runner_jti": stale_jti}
        ).encode()
        request = Request(
            "POST",
            self.heartbeat_url(loop_id),
            (
                ("Authorization", f"DPoP {stale_token}"),
                ("DPoP", proof_jwt),
                ("Content-Type", "application/json"),
            ),
            body,
        )
        try:
            code, raw = await self._exchange(request)
        except TransportTimeout:
            return HeartbeatResult(HeartbeatAnswer(None, error="timeout"))
        except TransportFailure:
            return HeartbeatResult(HeartbeatAnswer(None, error="network"))
        if code != 200:
            return HeartbeatResult(HeartbeatAnswer(code))
        return _heartbeat_200(_json_object(raw), loop_id, now)


def _json_object(body: bytes | None) -> dict[str, Any] | None:
    if body is None:
        return None
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _heartbeat_200(document: dict[str, Any] | None, loop_id: str, now: datetime) -> HeartbeatResult:
    malformed = HeartbeatResult(HeartbeatAnswer(200, error="malformed"))
    if document is None or not isinstance(document.get("revived"), bool):
        return malformed
    if document["revived"] is False:
        return HeartbeatResult(HeartbeatAnswer(200, revived=False))
    token, jti, expires_at = document.get("token"), document.get("jti"), document.get("expires_at")
    if not (isinstance(token, str) and isinstance(jti, str) and isinstance(expires_at, str)):
        return malformed
    try:
        info = accept_runner_token(token, loop_id)  # the rules of a token on stdin
        datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except (MalformedTokenError, ValueError):
        return malformed
    # Contract section 2: adopt only a well-formed JWT whose jti is J and whose exp is ahead.
    if info.jti != jti or info.expires_at <= now:
        return malformed
    answer = HeartbeatAnswer(
        200, revived=True, token_jti=info.jti, token_expires_at=info.expires_at.isoformat()
    )
    return HeartbeatResult(answer, fresh_token=token)
