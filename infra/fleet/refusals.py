"""Why the collector refuses an upload: a reason (the metric label, the JSON ``refused``
field) and the HTTP status it is answered with. ``ship`` exits 6 on every one of them."""

from __future__ import annotations

from recovery_ledger.infra.errors import LedgerError

# reason -> HTTP status
REASONS: dict[str, int] = {
    "bad_request_signature": 401,  # the request does not prove possession of a ledger key
    "stale_request": 401,  # signed too long ago (a replay, or a wrong clock)
    "replayed": 401,  # this exact signed request was already used
    "not_enrolled": 403,  # no installation with this key's thumbprint is enrolled
    "malformed": 400,  # not an upload document
    "too_large": 413,
    "bad_signature": 422,  # the head is not signed by the enrolled key
    "broken_chain": 422,  # the events do not chain to the signed head (forged, reordered, cut)
    "undecodable": 422,  # an event the ledger cannot read back
    "gap": 409,  # starts after what the collector holds
    "rolled_back": 409,  # contradicts or falls behind the acknowledged history
    "conflict": 409,  # an aggregate version another installation already shipped
}


class Refusal(LedgerError):
    """The upload is refused whole; nothing of it is stored."""

    def __init__(self, reason: str, message: str) -> None:
        assert reason in REASONS, reason
        super().__init__(message)
        self.reason = reason
        self.message = message

    @property
    def status(self) -> int:
        return REASONS[self.reason]
