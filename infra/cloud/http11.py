"""The boot's transport to the cloud: a keep-alive HTTP/1.1 connection pool over asyncio
streams, framed by h11 (the sans-I/O parser httpcore itself uses).

Chosen by numbers (docs/performance.md, ``python bench/cloud_client.py``): on the status GETs
of a 1,000-loop boot the cloud client over it costs ~4x less CPU per request than over httpx
(164 against 624-696 µs, its checks included), whose per-request machinery (models, anyio
cancel scopes, tracing) was the limit of a boot on 2 cores; HTTP/2 did not help. It does
only what the cloud client needs, and is strict about it:

- one origin, fixed at construction; TLS verified against the CA bundle httpx would use
  (certifi), with the hostname checked; plain http only where ``url_policy`` allowed it;
- no redirects, no proxies from the environment, no decompression, no retries;
- a body is read in bounded pieces and dropped past the cap (``body`` None), and so is a
  compressed one: the caller asked for ``identity``;
- any failure closes the connection it happened on: a connection goes back to the pool
  only after a complete exchange that both sides may continue.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11

_READ_SIZE = 64 * 1024


class TransportTimeout(Exception):
    """No connection within the connect timeout."""


class TransportFailure(Exception):
    """The connection failed or the answer broke HTTP/1.1: nothing usable came back."""


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    # Out of the repr: the headers carry the runner token and the proof (as httpx hides an
    # Authorization header's value in its own).
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes | None  # None: larger than the cap, or compressed


def verified_tls() -> ssl.SSLContext:
    """Full verification against the CA bundle httpx uses, so moving off httpx's client
    trusts exactly what it trusted."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class Http11Pool:
    def __init__(
        self,
        origin: str,
        *,
        tls: ssl.SSLContext | None,
        connect_timeout: float,
        max_connections: int,
        max_body_bytes: int,
        default_headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        parts = urlsplit(origin)
        if parts.hostname is None or parts.scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) origin: {origin!r}")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._authority = parts.netloc
        self._tls = tls if parts.scheme == "https" else None
        if parts.scheme == "https" and tls is None:
            raise ValueError("an https origin needs a TLS context")
        self._connect_timeout = connect_timeout
        self._max_body_bytes = max_body_bytes
        self._default_headers = default_headers
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()

    async def send(self, request: Request) -> Response:
        target = self._target(request.url)
        async with self._slots:
            connection = await self._checkout()
            try:
                response, reusable = await connection.exchange(
                    request.method,
                    target,
                    (("Host", self._authority), *self._default_headers, *request.headers),
                    request.body,
                    self._max_body_bytes,
                )
            except BaseException as error:  # cancelled by a deadline included
                self._discard(connection)
                if isinstance(error, (OSError, h11.ProtocolError, asyncio.IncompleteReadError)):
                    raise TransportFailure(str(error) or type(error).__name__) from None
                raise
            if reusable:
                self._idle.append(connection)
            else:
                self._discard(connection)
            return response

    async def aclose(self) -> None:
        for connection in list(self._open):
            self._discard(connection)

    def _target(self, url: str) -> str:
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != (self._scheme, self._authority):
            raise ValueError(f"{url!r} is not on this pool's origin")
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    async def _checkout(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if connection.usable():
                return connection
            self._discard(connection)
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self._host,
                    self._port,
                    ssl=self._tls,
                    server_hostname=self._host if self._tls is not None else None,
                    limit=_READ_SIZE,
                )
        except TimeoutError:
            raise TransportTimeout(f"no connection to {self._authority} in time") from None
        except OSError as error:  # refused, unreachable, a certificate that fails
            raise TransportFailure(str(error) or type(error).__name__) from None
        connection = _Connection(reader, writer)
        self._open.add(connection)
        return connection

    def _discard(self, connection: _Connection) -> None:
        self._open.discard(connection)
        connection.close()


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._http = h11.Connection(h11.CLIENT)

    def usable(self) -> bool:
        """Idle and not closed by the server meanwhile (as far as this loop has seen)."""
        return self._http.our_state is h11.IDLE and not self._reader.at_eof()

    def close(self) -> None:
        self._writer.close()

    async def exchange(
        self,
        method: str,
        target: str,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        cap: int,
    ) -> tuple[Response, bool]:
        """(the response, whether this connection may carry another request)."""
        if body or method not in ("GET", "HEAD"):
            headers = (*headers, ("Content-Length", str(len(body))))
        send = self._http.send
        head = send(h11.Request(method=method, target=target, headers=list(headers)))
        self._writer.write(
            head + (send(h11.Data(data=body)) if body else b"") + send(h11.EndOfMessage())
        )
        await self._writer.drain()
        answer = await self._next()
        while isinstance(answer, h11.InformationalResponse):  # 100 Continue and the like
            answer = await self._next()
        if not isinstance(answer, h11.Response):
            raise h11.RemoteProtocolError("no response")
        names = tuple(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in answer.headers
        )
        fields = dict(names)
        declared = fields.get("content-length")
        compressed = fields.get("content-encoding", "identity").lower() != "identity"
        if compressed or (declared is not None and declared.isdigit() and int(declared) > cap):
            return Response(answer.status_code, names, None), False
        chunks: list[bytes] = []
        size = 0
        while not isinstance(event := await self._next(), h11.EndOfMessage):
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > cap:
                    return Response(answer.status_code, names, None), False
                chunks.append(event.data)
        reusable = self._http.our_state is h11.DONE and self._http.their_state is h11.DONE
        if reusable:
            self._http.start_next_cycle()
        return Response(answer.status_code, names, b"".join(chunks)), reusable

    async def _next(self) -> h11.Event:
        while True:
            event = self._http.next_event()
            if event is h11.NEED_DATA:
                self._http.receive_data(await self._reader.read(_READ_SIZE))
            elif isinstance(event, h11.ConnectionClosed) or not isinstance(event, h11.Event):
                # closed, or PAUSED (a client never pipelines, so only a broken server)
                raise h11.RemoteProtocolError("the server closed the connection")
            else:
                return event
