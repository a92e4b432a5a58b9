"""Which cloud URLs may receive a runner token (docs/contract.md section 2).

https anywhere (TLS verified by the client); plain http only to a loopback host:
127.0.0.0/8, ::1 or ``localhost``. Decided on the parsed host, never on a string
prefix, so ``http://127.0.0.1.evil.com`` and ``http://127.0.0.1@evil.com`` are refused.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from recovery_ledger.infra.errors import BadInputError


class BadCloudUrl(BadInputError):
    """Not a usable base URL at all."""


class InsecureCloudUrl(BadInputError):
    """Plain http to a host that is not loopback: a token would cross the network in clear."""


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_cloud_url(url: str) -> str:
    """The base URL, without a trailing slash, or a named refusal with one clear line."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise BadCloudUrl(f"cloud URL {url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise BadCloudUrl(f"cloud URL must be https:// (or http:// to loopback), got {url!r}")
    if not parts.hostname:
        raise BadCloudUrl(f"cloud URL {url!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise BadCloudUrl("cloud URL must not carry credentials")
    if parts.query or parts.fragment:
        raise BadCloudUrl("cloud URL must not have a query or fragment")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise InsecureCloudUrl(
            f"refusing plain http to {parts.hostname}: use https (http is allowed only to "
            "loopback: 127.0.0.0/8, ::1, localhost)"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
