"""``collector serve``: the Starlette app on uvicorn, on one listening socket.

The socket is bound before anything is printed, so the URL on stdout's first line is
already accepting connections (port 0 picks a free port). SIGTERM and SIGINT stop it
gracefully: requests in flight finish (or, past the grace period, are cut, and their
transactions roll back), then the command exits 0.
"""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from recovery_ledger.infra.cloud.url_policy import is_loopback_host
from recovery_ledger.infra.errors import BadInputError, LedgerUnreadableError

DEFAULT_LISTEN = "127.0.0.1:8765"
GRACE_S = 10


class _Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn re-raises the signal after its shutdown; a stop signal is how this
        # command ends normally, so it exits 0 instead. A second SIGINT forces the exit.
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise BadInputError(f"--listen must be HOST:PORT (e.g. {DEFAULT_LISTEN}), not {text!r}")
    return host, int(port_text)


def check_transport(host: str, tls_cert: str | None, tls_key: str | None) -> None:
    if (tls_cert is None) != (tls_key is None):
        raise BadInputError("--tls-cert and --tls-key go together")
    if tls_cert is None and not is_loopback_host(host):
        raise BadInputError(
            f"refusing plain http on {host}: give --tls-cert and --tls-key (plain http is "
            "allowed only on a loopback address: 127.0.0.0/8, ::1, localhost)"
        )
    for option, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not Path(path).is_file():
            raise BadInputError(f"{option} {path}: no such file")


def serve(app: Any, listen: str, tls_cert: str | None, tls_key: str | None) -> None:
    host, port = parse_listen(listen)
    check_transport(host, tls_cert, tls_key)
    config = uvicorn.Config(
        app,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACE_S,
        server_header=False,
    )
    try:
        config.load()
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise BadInputError(f"cannot use the TLS certificate or key: {error}") from None
    sock = _bind(host, port)
    server = _Server(config)
    # From the moment the URL is out, a stop signal means a clean stop, also before
    # uvicorn has installed its own handlers.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, server.handle_exit)
    scheme = "https" if tls_cert else "http"
    shown = f"[{host}]" if ":" in host else host
    sys.stdout.write(f"{scheme}://{shown}:{sock.getsockname()[1]}\n")
    sys.stdout.flush()
    server.run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise LedgerUnreadableError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(2048)
    return sock
