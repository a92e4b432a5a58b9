"""The rebuild's fold: ``projections.rows`` applied to raw event states, rows kept as lists.

A rebuild folds every event of the ledger. Through the library's mapper that is a domain
object an event (every field decoded, UUIDs parsed) and a frozen dataclass copied per event;
over a million events that was ~35 µs an event, twenty times the cost of reading and
decoding them. Here each event is its decoded JSON state, read only for the fields the
projections use, and each row is a list in its table's column order holding SQL values
already (times as the codec's text, booleans as 0/1), changed in place.

The semantics are ``projections.rows`` exactly, rule for rule; ``loop_after``,
``decision_after`` and ``boot_after`` stay the reference (catch-up and ``verify`` fold
with them), and ``tests/integration/test_rebuild.py`` compares the two on varied ledgers.
The fields read exist in every version of their event (``Boot.Started`` v2 only added
``pop_key``); an upcaster that changed one of them would have to be mirrored here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import resolve_topic

from recovery_ledger.domain.boot import Boot
from recovery_ledger.domain.loop import Loop
from recovery_ledger.infra.projection_store.codec import time_text
from recovery_ledger.projections.rows import BootRow, DecisionRow, LoopRow

Row = list[Any]
DecisionKey = tuple[str, str]  # (boot id, loop aggregate id), both as UUID text


def _index(kind: type[Any]) -> dict[str, int]:
    return {f.name: i for i, f in enumerate(dataclasses.fields(kind))}


L = _index(LoopRow)
D = _index(DecisionRow)
B = _index(BootRow)
EVIDENCE = D["evidence"]


def time_of(tagged: dict[str, str] | None) -> str | None:
    """The codec's text of a transcoded datetime (``{"_type_": "datetime_iso", ...}``)."""
    if tagged is None:
        return None
    text = tagged["_data_"]
    # isoformat() of a UTC time with microseconds: the codec's text is a cut away.
    if len(text) == 32 and text[10] == "T" and text.endswith("+00:00"):
        return text[:26] + "Z"
    return time_text(datetime.fromisoformat(text))


def _flag(value: Any) -> int | None:
    return None if value is None else int(value)


def evidence_text(evidence: list[str]) -> str:
    """``json.dumps(list(evidence))``, as the codec writes a tuple. The entries are
    ``Class:uuid/version@position`` (ASCII letters, digits and ``:/@-``), which JSON writes
    without escapes, so a join gives the same text in a fraction of the time."""
    if not evidence:
        return "[]"
    return '["' + '", "'.join(evidence) + '"]'


# Column positions, bound once: the handlers below run once per event of a rebuild.
_ALIVE = D["alive"]
_LIVENESS_REASON = D["liveness_reason"]
_STATUS_ATTEMPTS = D["status_attempts"]
_STATUS_HTTP = D["status_http"]
_STATUS_WORD = D["status_word"]
_STATUS_ERROR = D["status_error"]
_REJECTED_JTI = D["rejected_jti"]
_POLICY = D["policy"]
_CLASSIFICATION = D["classification"]
_POP_AVAILABLE = D["pop_available"]
_POP_REASON = D["pop_reason"]
_POST_HEARTBEAT = D["post_heartbeat"]
_HEARTBEAT_BEGUN = D["heartbeat_begun"]
_PROOF_JTI = D["proof_jti"]
_HEARTBEAT_ANSWERED = D["heartbeat_answered"]
_HEARTBEAT_HTTP = D["heartbeat_http"]
_HEARTBEAT_REVIVED = D["heartbeat_revived"]
_HEARTBEAT_ERROR = D["heartbeat_error"]
_TOKEN_REVIVED = D["token_revived"]
_OUTCOME = D["outcome"]
_REATTACH_MODE = D["reattach_mode"]
_FINALIZE_REASON = D["finalize_reason"]
_CLOUD_LAST_WORD = D["cloud_last_word"]
_DECIDED_AT = D["decided_at"]


def _runner(row: Row, s: dict[str, Any], at: str) -> None:
    row[_ALIVE] = _flag(s["alive"])
    row[_LIVENESS_REASON] = s["reason"]


def _cloud(row: Row, s: dict[str, Any], at: str) -> None:
    row[_STATUS_ATTEMPTS] += 1
    row[_STATUS_HTTP] = s["http_status"]
    row[_STATUS_WORD] = s["status"]
    row[_STATUS_ERROR] = s["error"]


def _rejected(row: Row, s: dict[str, Any], at: str) -> None:
    row[_REJECTED_JTI] = s["jti"]


def _classified(row: Row, s: dict[str, Any], at: str) -> None:
    row[_POLICY] = s["policy"]
    row[_CLASSIFICATION] = s["classification"]
    row[_POP_AVAILABLE] = _flag(s["pop_available"])
    row[_POP_REASON] = s["pop_reason"]
    row[_POST_HEARTBEAT] = _flag(s["post_heartbeat"])


def _begun(row: Row, s: dict[str, Any], at: str) -> None:
    row[_HEARTBEAT_BEGUN] = 1
    row[_PROOF_JTI] = s["proof_jti"]


def _posted(row: Row, s: dict[str, Any], at: str) -> None:
    row[_HEARTBEAT_ANSWERED] = 1
    row[_HEARTBEAT_HTTP] = s["http_status"]
    row[_HEARTBEAT_REVIVED] = _flag(s["revived"])
    row[_HEARTBEAT_ERROR] = s["error"]


def _revived(row: Row, s: dict[str, Any], at: str) -> None:
    row[_TOKEN_REVIVED] = 1


def _reattached(row: Row, s: dict[str, Any], at: str) -> None:
    row[_OUTCOME] = "reattached"
    row[_REATTACH_MODE] = s["mode"]
    row[_DECIDED_AT] = at


def _finalized(row: Row, s: dict[str, Any], at: str) -> None:
    row[_OUTCOME] = "finalized"
    row[_FINALIZE_REASON] = s["reason"]
    row[_CLOUD_LAST_WORD] = s["cloud_last_word"]
    row[_DECIDED_AT] = at


def _nothing(row: Row, s: dict[str, Any], at: str) -> None:
    return None


_Change = Callable[[Row, dict[str, Any], str], None]
# projections.rows' boot-time events and what each changes in the decision row.
DECISION_CHANGES: dict[type[Any], _Change] = {
    Loop.RunnerObserved: _runner,
    Loop.CloudAnswered: _cloud,
    Loop.JwtRejected: _rejected,
    Loop.Classified: _classified,
    Loop.PopHeartbeatBegun: _begun,
    Loop.PopHeartbeatPosted: _posted,
    Loop.TokenRevived: _revived,
    Loop.Reattached: _reattached,
    Loop.Finalized: _finalized,
    Loop.TokenCleared: _nothing,
}


_NEW_DECISION: Row = [None] * len(D)
for _name in ("status_attempts", "heartbeat_begun", "heartbeat_answered", "token_revived"):
    _NEW_DECISION[D[_name]] = 0
_BOOT_ID, _LOOP_ID, _AGGREGATE_ID = D["boot_id"], D["loop_id"], D["aggregate_id"]
_OBSERVED_AT = D["observed_at"]
_UPDATED_AT, _LOOP_NAME = L["updated_at"], L["loop_id"]
_SUMMARY = ("examined", "reattached", "revived", "finalized", "heartbeats_posted")


def _registered(aggregate_id: str, s: dict[str, Any], at: str) -> Row:
    row: Row = [None] * len(L)
    row[: L["state"] + 1] = [
        s["loop_id"],
        aggregate_id,
        s["provenance"],
        s["pid"],
        s["host_id"],
        at,
        at,
        "open",
    ]
    row[L["revivals"]] = row[L["token_cleared"]] = 0
    return row


class _Kind:
    """What the fold needs to know of one event class, worked out once per topic."""

    def __init__(self, topic: str) -> None:
        cls = resolve_topic(topic)
        self.name: str = cls.__name__
        self.is_loop = isinstance(cls, type) and issubclass(cls, Loop.Event)
        self.registered = cls is Loop.Registered
        self.loop_change: Callable[[Row, dict[str, Any], str], None] | None = _LOOP_CHANGES.get(cls)
        self.decision_change = DECISION_CHANGES.get(cls)
        self.boot_started = cls is Boot.Started
        self.boot_completed = cls is Boot.Completed


def _token_issued(row: Row, s: dict[str, Any], at: str) -> None:
    row[L["token_jti"]] = s["jti"]
    row[L["token_expires_at"]] = time_of(s["expires_at"])
    row[L["token_source"]] = "issued" if s["source"] == "registered" else "rotated"
    row[L["token_cleared"]] = 0


def _token_revived(row: Row, s: dict[str, Any], at: str) -> None:
    row[L["token_jti"]] = s["jti"]
    row[L["token_expires_at"]] = time_of(s["expires_at"])
    row[L["token_source"]] = "revived"
    row[L["revivals"]] += 1


def _token_cleared(row: Row, s: dict[str, Any], at: str) -> None:
    row[L["token_jti"]] = None
    row[L["token_expires_at"]] = None
    row[L["token_cleared"]] = 1


def _loop_finalized(row: Row, s: dict[str, Any], at: str) -> None:
    row[L["state"]] = "finalized"
    row[L["finalize_reason"]] = s["reason"]
    row[L["finalized_by"]] = s["by"]


_LOOP_CHANGES: dict[type[Any], _Change] = {
    Loop.TokenIssued: _token_issued,
    Loop.TokenRevived: _token_revived,
    Loop.TokenCleared: _token_cleared,
    Loop.Finalized: _loop_finalized,
}


class RebuildFold:
    """Loops and boots stay in memory (one row each); decision rows stay while their boot
    is being written and are handed out by ``evict`` once it has moved on, so a rebuild's
    memory does not grow with the number of boots."""

    def __init__(self, load_decision: Callable[[str, str], Row | None]) -> None:
        # A decision row handed out earlier and touched again (rare: an event of an old
        # boot arriving late) is read back through ``load_decision``.
        self._load_decision = load_decision
        self.loops: dict[str, Row] = {}
        self.boots: dict[str, Row] = {}
        self.decisions: dict[str, dict[str, Row]] = {}  # boot id -> aggregate id -> row
        self.handed_out: set[str] = set()  # boots some of whose rows left memory
        self.reloaded: set[DecisionKey] = set()
        self._touched: set[str] = set()
        self._kinds: dict[str, _Kind] = {}
        self._ids: dict[str, str] = {}

    def _uuid_text(self, value: str) -> str:
        text = self._ids.get(value)
        if text is None:
            text = self._ids[value] = str(UUID(value))
        return text

    def apply(
        self, position: int, originator_id: str, version: int, topic: str, s: dict[str, Any]
    ) -> None:
        # The hot loop of a rebuild (once per event): names are bound locally on purpose.
        kind = self._kinds.get(topic)
        if kind is None:
            kind = self._kinds[topic] = _Kind(topic)
        aggregate_id = self._ids.get(originator_id) or self._uuid_text(originator_id)
        text = s["timestamp"]["_data_"]
        if len(text) == 32 and text[10] == "T" and text.endswith("+00:00"):
            at = text[:26] + "Z"
        else:
            at = time_text(datetime.fromisoformat(text))
        if not kind.is_loop:
            self._apply_boot(kind, aggregate_id, s, at)
            return
        if kind.registered:
            self.loops[aggregate_id] = _registered(aggregate_id, s, at)
            return
        loop = self.loops.get(aggregate_id)
        if loop is None:
            return  # projections.rows: nothing happens to a loop before it is registered
        loop[_UPDATED_AT] = at
        if kind.loop_change is not None:
            kind.loop_change(loop, s, at)
        change = kind.decision_change
        if change is None:
            return
        tagged = s.get("boot_id")
        if tagged is None:
            return
        boot_id = self._ids.get(tagged["_data_"]) or self._uuid_text(tagged["_data_"])
        self._touched.add(boot_id)
        rows = self.decisions.get(boot_id)
        if rows is None:
            rows = self.decisions[boot_id] = {}
        row = rows.get(aggregate_id)
        if row is None:
            row = self._reload(boot_id, aggregate_id)
            if row is None:
                row = _NEW_DECISION.copy()
                row[_BOOT_ID], row[_LOOP_ID] = boot_id, loop[_LOOP_NAME]
                row[_AGGREGATE_ID], row[_OBSERVED_AT] = aggregate_id, at
                row[EVIDENCE] = []
            rows[aggregate_id] = row
        row[EVIDENCE].append(f"{kind.name}:{aggregate_id}/{version}@{position}")
        change(row, s, at)

    def _apply_boot(self, kind: _Kind, aggregate_id: str, s: dict[str, Any], at: str) -> None:
        if kind.boot_started:
            boot_id = self._uuid_text(s["boot_id"]["_data_"])
            row = self.boots[aggregate_id] = [None] * len(B)
            row[: B["loops_planned"] + 1] = [
                boot_id,
                s["policy"],
                s["host_id"],
                s["host_name"],
                s["app_version"],
                s["cloud_url"],
                at,
                len(s["loop_ids"]),
            ]
            for name in _SUMMARY:
                row[B[name]] = 0
        elif kind.boot_completed and aggregate_id in self.boots:
            row = self.boots[aggregate_id]
            row[B["completed_at"]] = at
            summary = s["summary"]
            for name in _SUMMARY:
                row[B[name]] = summary.get(name, 0)

    def _reload(self, boot_id: str, aggregate_id: str) -> Row | None:
        if boot_id not in self.handed_out:
            return None
        row = self._load_decision(boot_id, aggregate_id)
        if row is not None:
            self.reloaded.add((boot_id, aggregate_id))
        return row

    def evict(self, everything: bool = False) -> Iterator[Row]:
        """The decision rows of every boot no event touched since the last call (or all of
        them): they leave memory, and the caller writes them."""
        for boot_id in list(self.decisions):
            if everything or boot_id not in self._touched:
                self.handed_out.add(boot_id)
                yield from self.decisions.pop(boot_id).values()
        self._touched = set()
