"""Stored events name their class by an explicit, stable topic, never by a module path, so a
ledger written today replays after the code moves."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from recovery_ledger.domain.boot import Boot
from recovery_ledger.domain.installation import Installation
from recovery_ledger.domain.loop import Loop, loop_aggregate_id
from recovery_ledger.infra.store.loop_projector import project_loop
from recovery_ledger.infra.store.mapper import LedgerMapper
from recovery_ledger.infra.store.transcoder import OrjsonTranscoder

from ..conftest import REPO

GOLDEN = Path(__file__).resolve().parents[1] / "testdata" / "golden_loop_events.json"


def _event_classes(aggregate: type[Aggregate]) -> list[type[Aggregate.Event]]:
    return [
        value
        for value in vars(aggregate).values()
        if isinstance(value, type) and issubclass(value, Aggregate.Event)
    ]


@pytest.mark.parametrize("aggregate", [Loop, Boot, Installation])
def test_every_event_class_declares_its_own_versioned_topic(aggregate: type[Aggregate]) -> None:
    classes = _event_classes(aggregate)
    assert len(classes) >= 3
    for cls in classes:
        # The library re-derives event classes, so the declared TOPIC may sit on a base;
        # what matters is the topic it stores under, which must name this very class.
        topic = get_topic(cls)
        assert topic == getattr(cls, "TOPIC", None), f"{cls.__qualname__} is stored under {topic}"
        assert topic == f"rl:{aggregate.__name__}.{cls.__name__}@1"
        assert "domain" not in topic


def test_topics_are_unique_across_the_ledger() -> None:
    topics = [
        getattr(cls, "TOPIC", None)
        for agg in (Loop, Boot, Installation)
        for cls in _event_classes(agg)
    ]
    assert len(topics) == len(set(topics))


def test_events_are_stored_under_the_explicit_topic_not_the_module_path() -> None:
    loop = Loop(loop_id="l1", provenance="desktop_managed", pid=1, pid_start_time=1.0, host_id="h")
    mapper: Mapper[UUID] = Mapper(transcoder=OrjsonTranscoder())
    stored = [mapper.to_stored_event(event) for event in loop.collect_events()]
    assert [s.topic for s in stored] == ["rl:Loop.Registered@1"]
    assert (
        b"recovery_ledger.domain.loop" not in stored[0].state
    )  # the aggregate's topic is stable too


def _golden() -> list[StoredEvent]:
    return [
        StoredEvent(
            originator_id=UUID(row["originator_id"]),
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=row["state"].encode(),
        )
        for row in json.loads(GOLDEN.read_text())
    ]


def test_a_ledger_written_on_2026_11_25_still_replays() -> None:
    mapper: Mapper[UUID] = Mapper(transcoder=OrjsonTranscoder())
    events = [mapper.to_domain_event(stored) for stored in _golden()]
    classes: list[type[object]] = [type(e) for e in events]
    assert classes == [
        Loop.Registered,
        Loop.TokenIssued,
        Loop.Finalized,
        Loop.TokenCleared,
    ]
    loop = project_loop(None, events)
    assert loop is not None
    assert loop.id == loop_aggregate_id("golden-loop")
    assert (loop.loop_id, loop.provenance, loop.pid) == ("golden-loop", "desktop_managed", 4242)
    assert loop.pid_start_time == 1764000000.25
    assert loop.is_finalized and loop.finalize_reason == "user stopped it"
    assert loop.token is None
    assert loop.version == 4
    issued = events[1]
    assert isinstance(issued, Loop.TokenIssued)
    assert issued.expires_at == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_the_ledger_mapper_writes_the_golden_events_byte_for_byte() -> None:
    """The write path's own encoding (``LedgerMapper``) gives back the very bytes a ledger
    of 2026-11-25 holds: the hash chain over them stays the same."""
    reader: Mapper[UUID] = Mapper(transcoder=OrjsonTranscoder())
    writer = LedgerMapper(transcoder=OrjsonTranscoder())
    golden = _golden()
    assert [writer.to_stored_event(reader.to_domain_event(s)) for s in golden] == golden


def test_topics_resolve_in_a_fresh_interpreter_that_imported_only_the_application() -> None:
    """The CLI never imports domain classes by module path from a topic; opening the
    application must be enough to read every stored topic."""
    script = (
        "import infra.store.app\n"
        "from eventsourcing.utils import resolve_topic\n"
        "import json, sys\n"
        "topics = [row['topic'] for row in json.load(open(sys.argv[1]))]\n"
        "topics += ['rl:Boot.Started@1', 'rl:Boot.Completed@1', 'rl:Loop@1', 'rl:Boot@1']\n"
        "print(json.dumps([resolve_topic(t).__qualname__ for t in topics]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(GOLDEN)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert json.loads(result.stdout) == [
        "Loop.Registered",
        "Loop.TokenIssued",
        "Loop.Finalized",
        "Loop.TokenCleared",
        "Boot.Started",
        "Boot.Completed",
        "Loop",
        "Boot",
    ]
