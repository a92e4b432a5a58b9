"""The reference cloud: a real HTTP server on loopback, and its Python handle."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from recovery_ledger.infra.crypto.jwk import jwk_thumbprint
from recovery_ledger.infra.refcloud.faults import Fault
from recovery_ledger.infra.refcloud.handler import CloudHandler
from recovery_ledger.infra.refcloud.state import CloudState


class CloudServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 512  # 200+ loops in flight must not be refused at accept

    def __init__(self, address: tuple[str, int], cloud: CloudState) -> None:
        super().__init__(address, CloudHandler)
        self.cloud = cloud
        address_host, port = self.server_address[:2]
        host = address_host.decode() if isinstance(address_host, bytes) else address_host
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{port}"

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-answer (a boot at its deadline, or killed with -9)
        # is a case the cloud must survive quietly, not a server error to print.
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class ReferenceCloud:
    """Start with ``with ReferenceCloud() as cloud:``; ``cloud.url`` is its base URL.

    The methods mirror the admin surface (docs/reference-cloud.md) for tests and the demo.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = CloudState()
        self._server = CloudServer((host, port), self.state)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="reference-cloud", daemon=True
        )

    @property
    def url(self) -> str:
        return self._server.base_url

    def start(self) -> ReferenceCloud:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ReferenceCloud:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the admin surface, in Python -------------------------------------------------------

    def add_loop(self, loop_id: str, status: str = "active", revivable: bool = True) -> None:
        self.state.add_loop(loop_id, status, revivable)

    def issue_token(self, loop_id: str, ttl_s: int = 3600) -> str:
        return self.state.issue_token(loop_id, ttl_s).token

    def jti_of(self, token: str) -> str | None:
        import jwt

        try:
            jti = jwt.decode(token, options={"verify_signature": False}).get("jti")
        except jwt.PyJWTError:
            return None
        return jti if isinstance(jti, str) else None

    def register_key(self, jwk_or_thumbprint: dict[str, str] | str) -> str:
        thumbprint = (
            jwk_or_thumbprint
            if isinstance(jwk_or_thumbprint, str)
            else jwk_thumbprint(jwk_or_thumbprint)
        )
        with self.state.lock:
            self.state.keys.add(thumbprint)
        return thumbprint

    def delete_loop(self, loop_id: str) -> None:
        """The loop is gone: status and heartbeat answer 410."""
        loop = self.state.loop(loop_id)
        assert loop is not None, f"unknown loop {loop_id}"
        loop.deleted = True

    def forget_loop(self, loop_id: str) -> None:
        """The cloud never heard of it: 404."""
        with self.state.lock:
            self.state.loops.pop(loop_id, None)

    def inject_fault(self, loop_id: str | None, **fault: Any) -> None:
        self.state.faults.add(Fault(loop_id=loop_id, **fault))

    def clear_faults(self, loop_id: str | None = None) -> None:
        self.state.faults.clear(loop_id)

    def stats(self, loop_id: str) -> dict[str, Any]:
        return self.state.stats_view(loop_id)


def serve_forever(host: str = "127.0.0.1", port: int = 0) -> None:  # pragma: no cover
    with ReferenceCloud(host, port) as cloud:
        print(cloud.url, flush=True)
        threading.Event().wait()
