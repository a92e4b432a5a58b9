"""The cloud client's reading of every answer of docs/contract.md section 2, through httpx's
transport seam (MockTransport): no patching of internals."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
import jwt
import pytest

from recovery_ledger.domain.observations import HeartbeatAnswer, StatusAnswer
from recovery_ledger.infra.cloud.client import CloudClient, HeartbeatResult

BASE = "https://cloud.test"
NOW = datetime.now(UTC)


def runner_token(jti: str, exp_offset: int = 3600) -> str:
    return jwt.encode(
        {"jti": jti, "exp": int(time.time()) + exp_offset}, "k" * 32, algorithm="HS256"
    )


class Recorder:
    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)


def status_of(
    respond: Callable[[httpx.Request], httpx.Response], loop_id: str = "L1"
) -> tuple[StatusAnswer, Recorder]:
    recorder = Recorder(respond)

    async def go() -> StatusAnswer:
        async with CloudClient(BASE, transport=httpx.MockTransport(recorder)) as client:
            return await client.get_status(loop_id, "tok")

    return asyncio.run(go()), recorder


def heartbeat_of(
    respond: Callable[[httpx.Request], httpx.Response],
) -> tuple[HeartbeatResult, Recorder]:
    recorder = Recorder(respond)

    async def go() -> HeartbeatResult:
        async with CloudClient(BASE, transport=httpx.MockTransport(recorder)) as client:
            return await client.post_heartbeat("L1", "stale", "stale-jti", "proof", NOW)

    return asyncio.run(go()), recorder


def answer(
    code: int, body: object = None, **kwargs: object
) -> Callable[[httpx.Request], httpx.Response]:
    def respond(_: httpx.Request) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(code, content=content, **kwargs)  # type: ignore[arg-type]

    return respond


# -- status ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["active", "timed_out", "completed", "cancelled", "failed"])
def test_known_statuses_are_read(status: str) -> None:
    got, recorder = status_of(answer(200, {"loop_id": "L1", "status": status}))
    assert got == StatusAnswer(200, status=status)
    assert recorder.requests[0].headers["Authorization"] == "Bearer tok"
    assert recorder.requests[0].url == f"{BASE}/v1/loops/L1/status"


def test_an_unknown_status_is_unrecognized() -> None:
    got, _ = status_of(answer(200, {"loop_id": "L1", "status": "paused"}))
    assert got == StatusAnswer(200, error="unrecognized_status")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        [1, 2],
        {"status": "active"},
        {"loop_id": "L2", "status": "active"},
        {"loop_id": "L1", "status": 3},
        {"loop_id": "L1"},
    ],
)
def test_a_body_that_is_not_the_contracts_json_is_malformed(body: object) -> None:
    got, _ = status_of(answer(200, body))
    assert got == StatusAnswer(200, error="malformed")


@pytest.mark.parametrize("code", [401, 404, 410, 429, 500, 503, 418, 400])
def test_other_codes_are_passed_through_for_the_policy(code: int) -> None:
    got, _ = status_of(answer(code, {}))
    assert got == StatusAnswer(code)


def test_a_redirect_is_not_followed_and_the_token_goes_nowhere_else() -> None:
    got, recorder = status_of(answer(302, {}, headers={"Location": "https://elsewhere.test/steal"}))
    assert got == StatusAnswer(302)
    assert [str(r.url) for r in recorder.requests] == [f"{BASE}/v1/loops/L1/status"]


def test_loop_ids_are_quoted_into_the_path() -> None:
    _, recorder = status_of(answer(404, {}), loop_id="a/b c")
    assert recorder.requests[0].url.raw_path == b"/v1/loops/a%2Fb%20c/status"


def test_connect_errors_are_network_and_timeouts_are_timeout() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    assert status_of(refuse)[0] == StatusAnswer(None, error="network")
    assert status_of(slow)[0] == StatusAnswer(None, error="timeout")


class EndlessBody(httpx.AsyncByteStream):
    def __init__(self) -> None:
        self.chunks_sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.chunks_sent += 1
            yield b"x" * 65536


def test_a_hostile_endless_body_is_cut_off_at_the_cap() -> None:
    stream = EndlessBody()
    got, _ = status_of(lambda _: httpx.Response(200, stream=stream))
    assert got == StatusAnswer(200, error="malformed")
    assert stream.chunks_sent <= 3


def test_a_declared_huge_body_is_not_read_at_all() -> None:
    stream = EndlessBody()
    got, _ = status_of(
        lambda _: httpx.Response(200, stream=stream, headers={"Content-Length": str(10**9)})
    )
    assert got == StatusAnswer(200, error="malformed")
    assert stream.chunks_sent == 0


def test_plain_http_to_a_remote_host_cannot_even_be_constructed() -> None:
    from recovery_ledger.infra.cloud.url_policy import InsecureCloudUrl

    with pytest.raises(InsecureCloudUrl):
        CloudClient("http://cloud.example.com")


# -- heartbeat --------------------------------------------------------------------------------


def test_heartbeat_sends_the_contracts_headers_and_body_once() -> None:
    fresh = runner_token("new-jti")
    result, recorder = heartbeat_of(
        answer(
            200,
            {
                "revived": True,
                "token": fresh,
                "jti": "new-jti",
                "expires_at": "2099-01-01T00:00:00Z",
            },
        )
    )
    assert result.answer.revived is True
    assert result.answer.error is None
    assert result.fresh_token == fresh
    assert len(recorder.requests) == 1
    sent = recorder.requests[0]
    assert sent.method == "POST"
    assert sent.headers["Authorization"] == "DPoP stale"
    assert sent.headers["DPoP"] == "proof"
    assert json.loads(sent.content) == {
        "loop_id": "L1",
        "reason": "boot_recovery",
        "runner_jti": "stale-jti",
    }


@pytest.mark.parametrize(
    "body",
    [
        {
            "revived": True,
            "token": runner_token("other"),
            "jti": "new-jti",
            "expires_at": "2099-01-01T00:00:00Z",
        },
        {
            "revived": True,
            "token": runner_token("new-jti", exp_offset=-10),
            "jti": "new-jti",
            "expires_at": "2099-01-01T00:00:00Z",
        },
        {
            "revived": True,
            "token": "not-a-jwt",
            "jti": "new-jti",
            "expires_at": "2099-01-01T00:00:00Z",
        },
        {
            "revived": True,
            "token": runner_token("new-jti"),
            "jti": "new-jti",
            "expires_at": "tomorrow",
        },
        {"revived": True, "jti": "new-jti"},
        {"revived": "yes"},
        b"not json",
    ],
)
def test_a_revival_that_fails_the_contracts_checks_is_malformed_and_not_adopted(
    body: object,
) -> None:
    result, _ = heartbeat_of(answer(200, body))
    assert result.answer == HeartbeatAnswer(200, error="malformed")
    assert result.fresh_token is None


def test_revived_false_is_inconclusive() -> None:
    result, _ = heartbeat_of(answer(200, {"revived": False}))
    assert result.answer == HeartbeatAnswer(200, revived=False)


@pytest.mark.parametrize("code", [401, 404, 410, 500, 503, 429])
def test_a_failed_heartbeat_is_posted_exactly_once(code: int) -> None:
    result, recorder = heartbeat_of(answer(code, {}))
    assert result.answer == HeartbeatAnswer(code)
    assert len(recorder.requests) == 1


def test_heartbeat_transport_failures_are_named() -> None:
    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("dropped", request=request)

    result, recorder = heartbeat_of(reset)
    assert result.answer == HeartbeatAnswer(None, error="network")
    assert len(recorder.requests) == 1
