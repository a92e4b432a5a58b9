"""The cloud client (docs/contract.md section 2): httpx, async, strict about every answer.

- TLS is verified; plain http only to loopback (``url_policy``).
- Redirects are never followed: a 3xx is a transient answer, and the token is
  never sent to a ``Location``.
- Bodies are streamed and capped: a hostile 1 GB answer is cut off at the cap
  and counts as ``malformed``; a compressed answer is never decompressed (``malformed``);
  every exchange has one overall time limit, so a trickling answer is a ``timeout``.
- Transport failures arrive as httpx's exception hierarchy and become the
  contract's error words: ``timeout`` or ``network``.
- A heartbeat is posted exactly once per call: no retries anywhere here.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from recovery_ledger.domain.errors import MalformedTokenError
from recovery_ledger.domain.observations import CLOUD_STATUSES, HeartbeatAnswer, StatusAnswer
from recovery_ledger.domain.runner_token import accept_runner_token
from recovery_ledger.infra.cloud.url_policy import check_cloud_url

DEFAULT_MAX_BODY_BYTES = 64 * 1024


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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = check_cloud_url(base_url)
        self.max_body_bytes = max_body_bytes
        self.request_timeout_s = connect_timeout + read_timeout
        self._client = httpx.AsyncClient(
            verify=_tls_context(self.base_url),
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
            trust_env=False,  # a proxy from the environment must not see tokens
            headers={"User-Agent": "recovery-ledger", "Accept-Encoding": "identity"},
        )

    def __repr__(self) -> str:
        return f"CloudClient({self.base_url!r})"

    async def __aenter__(self) -> CloudClient:
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.__aexit__(kind, value, tb)

    def _loop_url(self, loop_id: str, action: str) -> str:
        return f"{self.base_url}/v1/loops/{quote(loop_id, safe='')}/{action}"

    def heartbeat_url(self, loop_id: str) -> str:
        """The exact URL of the heartbeat POST: what the proof's ``htu`` must say."""
        return self._loop_url(loop_id, "heartbeat")

    async def _send(self, request: httpx.Request) -> tuple[int, bytes | None]:
        """(status, body) with the body capped; body None when it exceeded the cap or came
        compressed. The whole exchange has one time limit (connect + read): a server that
        trickles its answer a byte at a time (slowloris) never resets a read timeout
        forever; it ends as ``httpx.TimeoutException``."""
        try:
            async with asyncio.timeout(self.request_timeout_s):
                return await self._exchange(request)
        except TimeoutError:
            raise httpx.ReadTimeout("the answer took too long", request=request) from None

    async def _exchange(self, request: httpx.Request) -> tuple[int, bytes | None]:
        response = await self._client.send(request, stream=True)
        try:
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                return response.status_code, None
            if response.headers.get("content-encoding", "identity").lower() != "identity":
                # Asked for identity: a compressed answer is not the contract's, and never
                # decompressed, so a gzip bomb costs nothing.
                return response.status_code, None
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():  # identity: the bytes as sent
                size += len(chunk)
                if size > self.max_body_bytes:
                    return response.status_code, None
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)
        finally:
            await response.aclose()

    async def get_status(self, loop_id: str, runner_token: str) -> StatusAnswer:
        request = self._client.build_request(
            "GET",
            self._loop_url(loop_id, "status"),
            headers={"Authorization": f"Bearer {runner_token}"},
        )
        try:
            code, body = await self._send(request)
        except httpx.TimeoutException:
            return StatusAnswer(None, error="timeout")
        except httpx.TransportError:
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
        request = self._client.build_request(
            "POST",
            self.heartbeat_url(loop_id),
            content=body,
            headers={
                "Authorization": f"DPoP {stale_token}",
                "DPoP": proof_jwt,
                "Content-Type": "application/json",
            },
        )
        try:
            code, raw = await self._send(request)
        except httpx.TimeoutException:
            return HeartbeatResult(HeartbeatAnswer(None, error="timeout"))
        except httpx.TransportError:
            return HeartbeatResult(HeartbeatAnswer(None, error="network"))
        if code != 200:
            return HeartbeatResult(HeartbeatAnswer(code))
        return _heartbeat_200(_json_object(raw), loop_id, now)


def _tls_context(base_url: str) -> ssl.SSLContext | bool:
    """Full verification for https. For http (loopback only) no TLS is ever used, so skip
    loading the CA bundle (~15 ms of every boot) with a context that still verifies
    everything and trusts nothing: any TLS through it would fail, never pass unchecked."""
    if base_url.startswith("https://"):
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


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
