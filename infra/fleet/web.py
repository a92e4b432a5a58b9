"""The collector's HTTP interface (Starlette): health, metrics, and the two signed calls
``ship`` makes. Database work runs in Starlette's thread pool; the ASGI server is uvicorn
(``server.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import jwt  # noqa: F401 - loaded with the app: the first upload must not pay for importing it
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from recovery_ledger.infra.fleet.intake import GROUP_MAX_UPLOADS, GROUPS_AT_ONCE, Intake
from recovery_ledger.infra.fleet.metrics import CONTENT_TYPE, CollectorMetrics
from recovery_ledger.infra.fleet.protocol import ProtocolError, Upload
from recovery_ledger.infra.fleet.refusals import Refusal
from recovery_ledger.infra.fleet.request_auth import RequestAuthError, Requester, read_request

POSITION_PATH = "/v1/position"
UPLOADS_PATH = "/v1/uploads"
MAX_BODY_BYTES = 64 * 1024 * 1024
_NONCE_SWEEP_S = 60.0


def create_app(intake: Intake, max_body: int = MAX_BODY_BYTES) -> Starlette:
    metrics = CollectorMetrics(intake)
    # As many threads at the database as the pool has connections, less those the upload
    # groups in flight hold: the rest of the requests wait here, in the event loop, for as
    # long as it takes, instead of timing out in the pool ("couldn't get a connection").
    # Uploads wait in their own threads for a group to take them, with no connection: as
    # many as a group holds, so that the next group can gather while one is stored.
    database = anyio.CapacityLimiter(max(intake.datastore.pool.max_size - GROUPS_AT_ONCE, 1))
    uploads = anyio.CapacityLimiter(GROUPS_AT_ONCE * GROUP_MAX_UPLOADS)

    async def run_in_threadpool(function: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(function, *args, limiter=database)

    async def health(request: Request) -> Response:
        try:
            await run_in_threadpool(intake.ping)
        except Exception as error:  # any database failure: not healthy, and say why
            return JSONResponse({"status": "unavailable", "error": _first_line(error)}, 503)
        return JSONResponse({"status": "ok"})

    async def metrics_text(request: Request) -> Response:
        body = await run_in_threadpool(metrics.render)
        return Response(body, media_type=CONTENT_TYPE)

    async def position(request: Request) -> Response:
        return await _answer(request, b"", lambda who: intake.position(who), database)

    async def upload(request: Request) -> Response:
        body = await _read_body(request, max_body)
        if body is None:
            return _refused(Refusal("too_large", f"an upload is at most {max_body} bytes"))

        def store(who: Requester) -> Any:
            try:
                document = Upload.from_json(orjson.loads(body))
            except (orjson.JSONDecodeError, ProtocolError) as error:
                raise Refusal("malformed", str(error)) from None
            return intake.accept(who, document)

        return await _answer(request, body, store, uploads)

    async def _answer(
        request: Request, body: bytes, work: Any, limiter: anyio.CapacityLimiter
    ) -> Response:
        thumbprint = None
        try:
            who = read_request(
                request.headers.get("authorization"), request.method, request.url.path, body
            )
            thumbprint = who.thumbprint
            ack = await anyio.to_thread.run_sync(work, who, limiter=limiter)
        except RequestAuthError as error:
            return await _refuse(thumbprint, Refusal(error.reason, str(error)))
        except Refusal as refusal:
            return await _refuse(thumbprint, refusal)
        except Exception as error:  # the database failed: nothing was stored, try again
            return JSONResponse(
                {"error": "unavailable", "message": _first_line(error)},
                503,
                headers={"Retry-After": "5"},
            )
        if request.method == "POST":
            metrics.uploads.labels("stored" if ack.stored else "duplicate").inc()
            metrics.events_stored.inc(ack.stored)
        return JSONResponse(ack.to_json())

    async def _refuse(thumbprint: str | None, refusal: Refusal) -> Response:
        metrics.refusals.labels(refusal.reason).inc()
        with contextlib.suppress(Exception):  # evidence is best effort; the answer is not
            await run_in_threadpool(intake.record_refusal, thumbprint, refusal)
        return _refused(refusal)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def sweep() -> None:
            while True:
                await anyio.sleep(_NONCE_SWEEP_S)
                with contextlib.suppress(Exception):
                    await run_in_threadpool(intake.forget_old_nonces)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(sweep)
            yield
            tasks.cancel_scope.cancel()

    return Starlette(
        routes=[
            Route("/healthz", health, methods=["GET"]),
            Route("/metrics", metrics_text, methods=["GET"]),
            Route(POSITION_PATH, position, methods=["GET"]),
            Route(UPLOADS_PATH, upload, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


async def _read_body(request: Request, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _refused(refusal: Refusal) -> Response:
    return JSONResponse({"refused": refusal.reason, "message": refusal.message}, refusal.status)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
