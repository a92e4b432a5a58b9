"""The cloud client's reading of every answer of docs/contract.md section 2, through its
transport seam (a fake that records each request and answers it): no patching of internals.
The wire itself (caps, TLS, timeouts, hostile servers) is tested over real sockets in
tests/integration/test_http11_pool.py and test_hostile_cloud.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import jwt
import pytest

from recovery_ledger.domain.observations import HeartbeatAnswer, StatusAnswer
from recovery_ledger.infra.cloud.client import CloudClient, HeartbeatResult
from recovery_ledger.infra.cloud.http11 import (
    Request,
    Response,
    TransportFailure,
    TransportTimeout,
)

BASE = "https://cloud.test"
NOW = datetime.now(UTC)


def runner_token(jti: str, exp_offset: int = 3600) -> str:
    return jwt.encode(
        {"jti": jti, "exp": int(time.time()) + exp_offset}, "k" * 32, algorithm="HS256"
    )


class Recorder:
    """The transport seam: records every request and answers it with ``respond``."""

    def __init__(self, respond: Callable[[Request], Response]) -> None:
        self.respond = respond
        self.requests: list[Request] = []
        self.closed = False

    async def send(self, request: Request) -> Response:
        self.requests.append(request)
        return self.respond(request)

    async def aclose(self) -> None:
        self.closed = True


def header(request: Request, name: str) -> str:
    return dict(request.headers)[name]


def status_of(
    respond: Callable[[Request], Response], loop_id: str = "L1"
) -> tuple[StatusAnswer, Recorder]:
    recorder = Recorder(respond)

    async def go() -> StatusAnswer:
        async with CloudClient(BASE, transport=recorder) as client:
            return await client.get_status(loop_id, "tok")

    answer = asyncio.run(go())
    assert recorder.closed
    return answer, recorder


def heartbeat_of(
    respond: Callable[[Request], Response],
) -> tuple[HeartbeatResult, Recorder]:
    recorder = Recorder(respond)

    async def go() -> HeartbeatResult:
        async with CloudClient(BASE, transport=recorder) as client:
            return await client.post_heartbeat("L1", "stale", "stale-jti", "proof", NOW)

    return asyncio.run(go()), recorder


def answer(
    code: int, body: object = None, headers: tuple[tuple[str, str], ...] = ()
) -> Callable[[Request], Response]:
    def respond(_: Request) -> Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return Response(code, headers, content)

    return respond


# -- status ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["active", "timed_out", "completed", "cancelled", "failed"])
def test_known_statuses_are_read(status: str) -> None:
    got, recorder = status_of(answer(200, {"loop_id": "L1", "status": status}))
    assert got == StatusAnswer(200, status=status)
    assert header(recorder.requests[0], "Authorization") == "Bearer tok"
    assert recorder.requests[0].url == f"{BASE}/v1/loops/L1/status"
    assert recorder.requests[0].method == "GET"


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
    got, recorder = status_of(answer(302, {}, (("Location", "https://elsewhere.test/steal"),)))
    assert got == StatusAnswer(302)
    assert [r.url for r in recorder.requests] == [f"{BASE}/v1/loops/L1/status"]


def test_loop_ids_are_quoted_into_the_path() -> None:
    _, recorder = status_of(answer(404, {}), loop_id="a/b c")
    assert recorder.requests[0].url == f"{BASE}/v1/loops/a%2Fb%20c/status"


def test_connect_errors_are_network_and_timeouts_are_timeout() -> None:
    def refuse(_: Request) -> Response:
        raise TransportFailure("refused")

    def slow(_: Request) -> Response:
        raise TransportTimeout("slow")

    assert status_of(refuse)[0] == StatusAnswer(None, error="network")
    assert status_of(slow)[0] == StatusAnswer(None, error="timeout")


def test_a_body_the_wire_dropped_as_too_large_or_compressed_is_malformed() -> None:
    got, _ = status_of(lambda _: Response(200, (), None))
    assert got == StatusAnswer(200, error="malformed")
    beat, _ = heartbeat_of(lambda _: Response(200, (), None))
    assert beat.answer == HeartbeatAnswer(200, error="malformed")


def test_an_exchange_slower_than_connect_plus_read_timeout_is_a_timeout() -> None:
    class Hanging(Recorder):
        async def send(self, request: Request) -> Response:
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

    async def go() -> StatusAnswer:
        hanging = Hanging(answer(200, {}))
        async with CloudClient(
            BASE, connect_timeout=0.05, read_timeout=0.05, transport=hanging
        ) as client:
            return await client.get_status("L1", "tok")

    assert asyncio.run(go()) == StatusAnswer(None, error="timeout")


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
    assert header(sent, "Authorization") == "DPoP stale"
    assert header(sent, "DPoP") == "proof"
    assert header(sent, "Content-Type") == "application/json"
    assert json.loads(sent.body) == {
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
    def reset(_: Request) -> Response:
        raise TransportFailure("dropped")

    result, recorder = heartbeat_of(reset)
    assert result.answer == HeartbeatAnswer(None, error="network")
    assert len(recorder.requests) == 1
