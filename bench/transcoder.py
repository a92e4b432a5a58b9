"""The orjson transcoder against the library's JSONTranscoder, same events, same run.

    python bench/transcoder.py [--events 20000] [--repeat 7]

Realistic event states: taken from real Loop events (a token issued with its sealed bytes,
then a boot that revived it: a 401, a classification, a PoP heartbeat and its answer, the
fresh sealed token, the reattachment).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    UUIDAsHex,
)

from recovery_ledger.domain.loop import Loop, SealedToken
from recovery_ledger.infra.store.transcoder import OrjsonTranscoder
from recovery_ledger.tests.boot_history import revived_boot


class BytesAsBase64(Transcoding):
    type = bytes
    name = "bytes_b64"

    def encode(self, obj: bytes) -> str:
        return base64.b64encode(obj).decode()

    def decode(self, data: str) -> bytes:
        return base64.b64decode(data)


def states() -> list[dict[str, Any]]:
    loop = Loop(
        loop_id="bench", provenance="desktop_managed", pid=1, pid_start_time=1.5, host_id="h"
    )
    loop.issue_token(SealedToken("jti", datetime.now(UTC), "f" * 64, bytes(180), "k", "registered"))
    fresh = SealedToken("jti-2", datetime.now(UTC), "f" * 64, bytes(180), "k", "revived")
    revived_boot(loop, "proof", fresh)
    return [dict(vars(e)) for e in loop.collect_events()]


def measure(transcoder: Any, samples: list[dict[str, Any]], events: int) -> float:
    started = time.perf_counter()
    for i in range(events):
        transcoder.decode(transcoder.encode(samples[i % len(samples)]))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    library = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), BytesAsBase64()):
        library.register(transcoding)
    ours = OrjsonTranscoder()
    samples = states()
    lib_t, our_t = [], []
    for _ in range(args.repeat):  # interleaved, so drift hits both alike
        lib_t.append(measure(library, samples, args.events))
        our_t.append(measure(ours, samples, args.events))
    lib, our = statistics.median(lib_t), statistics.median(our_t)
    print(f"encode+decode of {args.events} event states, median of {args.repeat}")
    print(f"  library JSONTranscoder  {lib * 1e6 / args.events:7.2f} us/event")
    print(f"  OrjsonTranscoder        {our * 1e6 / args.events:7.2f} us/event")
    print(f"  ratio: orjson is {lib / our:.2f}x faster")


if __name__ == "__main__":
    main()
