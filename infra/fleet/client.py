"""``ship``'s side of the HTTP conversation. Every request is signed with the ledger key;
every answer becomes an acknowledgement, a refusal (exit 6) or "unreachable" (exit 7)."""

from __future__ import annotations

import ssl
import time
from typing import Any

import httpx
import orjson

from recovery_ledger.infra.errors import CollectorUnreachableError, UploadRefusedError
from recovery_ledger.infra.fleet.protocol import Acknowledgement, ProtocolError, Upload
from recovery_ledger.infra.fleet.request_auth import sign_request

POSITION_PATH = "/v1/position"
UPLOADS_PATH = "/v1/uploads"


class CollectorClient:
    def __init__(
        self, base_url: str, signing_key: Any, deadline_s: float, ca_file: str | None = None
    ) -> None:
        self.base_url = base_url
        self.signing_key = signing_key
        self.deadline = time.monotonic() + deadline_s
        self.deadline_s = deadline_s
        self.path_prefix = httpx.URL(base_url).path.rstrip("/")
        self.http = httpx.Client(
            base_url=base_url,
            verify=_tls(base_url, ca_file),
            trust_env=False,  # a proxy from the environment is not a collector
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def position(self) -> Acknowledgement:
        return self._call("GET", POSITION_PATH, b"")

    def upload(self, upload: Upload) -> Acknowledgement:
        return self._call("POST", UPLOADS_PATH, orjson.dumps(upload.to_json()))

    def _call(self, method: str, path: str, body: bytes) -> Acknowledgement:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self._late()
        full_path = self.path_prefix + path
        headers = {
            "Authorization": sign_request(self.signing_key, method, full_path, body),
            "Content-Type": "application/json",
        }
        try:
            answer = self.http.request(
                method, full_path, content=body or None, headers=headers, timeout=remaining
            )
        except httpx.TimeoutException:
            raise self._late() from None
        except httpx.HTTPError as error:
            raise CollectorUnreachableError(
                f"cannot reach the collector at {self.base_url}: {_first_line(error)}; "
                "nothing was lost, the next ship resumes"
            ) from None
        return self._read(answer)

    def _read(self, answer: httpx.Response) -> Acknowledgement:
        if answer.status_code == 200:
            try:
                return Acknowledgement.from_json(orjson.loads(answer.content))
            except (orjson.JSONDecodeError, ProtocolError):
                raise CollectorUnreachableError(
                    "the collector's answer is not an acknowledgement; nothing was lost"
                ) from None
        if 400 <= answer.status_code < 500 and answer.status_code not in (408, 429):
            reason, message = _refusal(answer)
            raise UploadRefusedError(f"the collector refused the upload ({reason}): {message}")
        raise CollectorUnreachableError(
            f"the collector could not take the upload (HTTP {answer.status_code}"
            f"{_unavailable(answer)}); nothing was lost, the next ship resumes"
        )

    def _late(self) -> CollectorUnreachableError:
        return CollectorUnreachableError(
            f"the collector did not answer within the deadline ({self.deadline_s:g} s); "
            "nothing was lost, the next ship resumes"
        )


def _refusal(answer: httpx.Response) -> tuple[str, str]:
    try:
        document = orjson.loads(answer.content)
        reason, message = str(document["refused"]), str(document["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return f"HTTP {answer.status_code}", "no reason given"
    # The collector's words reach a terminal: shown as data, never as control characters.
    return _printable(reason), _printable(message)


def _unavailable(answer: httpx.Response) -> str:
    try:
        return ": " + _printable(str(orjson.loads(answer.content)["message"]))
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return ""


def _printable(text: str) -> str:
    text = text[:500]
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _tls(base_url: str, ca_file: str | None) -> ssl.SSLContext | bool:
    if not base_url.startswith("https://"):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no TLS on loopback http; trusts nothing
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        from recovery_ledger.infra.errors import BadInputError

        raise BadInputError(f"--ca-file {ca_file}: {error}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
