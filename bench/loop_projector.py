"""The repository's loop projector against the library's default one, same events, same run.

    python bench/loop_projector.py [--boots 200] [--repeat 7]

The events are one loop's real history (``Loop`` commands, in memory): registered, a token,
then per boot what a boot records for a loop whose token was rejected and revived (observed,
cloud answer, JWT rejected, classified, heartbeat begun and answered, token revived,
reattached): 8 events a boot. Both projectors fold the same list; the result is compared
before anything is timed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eventsourcing.application import project_aggregate

from recovery_ledger.domain.loop import Loop, SealedToken
from recovery_ledger.infra.store.loop_projector import project_loop
from recovery_ledger.tests.boot_history import revived_boot


def _token(jti: str) -> SealedToken:
    return SealedToken(jti, datetime(2030, 1, 1, tzinfo=UTC), "f" * 64, bytes(180), "k", "revived")


def history(boots: int) -> Sequence[Any]:
    loop = Loop(
        loop_id="bench", provenance="desktop_managed", pid=1, pid_start_time=1.5, host_id="h"
    )
    loop.issue_token(_token("j0"))
    for n in range(boots):
        revived_boot(loop, f"proof-{n}", _token(f"j{n + 1}"))
    return loop.collect_events()


def _state(loop: Loop | None) -> tuple[Any, ...]:
    assert loop is not None
    return (loop.version, loop.token, loop.heartbeat_boots, loop.revived_boots, loop.modified_on)


def _median(
    projector: Callable[[Any, Any], Loop | None], events: Sequence[Any], repeat: int
) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        projector(None, events)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--boots", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    events = history(args.boots)
    assert _state(project_loop(None, events)) == _state(project_aggregate(None, events))
    library = _median(project_aggregate, events, args.repeat)
    ours = _median(project_loop, events, args.repeat)
    per = 1e6 / len(events)
    print(f"{len(events)} events of one loop ({args.boots} boots), median of {args.repeat}")
    print(f"library project_aggregate: {library * per:6.2f} µs/event (baseline)")
    print(f"infra.store project_loop:  {ours * per:6.2f} µs/event  {library / ours:.2f}x faster")


if __name__ == "__main__":
    main()
