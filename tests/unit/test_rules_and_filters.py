"""The rule in words (domain/rules.py), the shared filters (projections/filters.py) and the
table fitting (infra/cli/table.py): pure functions, row by row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from recovery_ledger.domain.observations import HeartbeatAnswer, StatusAnswer
from recovery_ledger.domain.policies import LoopFacts, get_policy
from recovery_ledger.domain.rules import rule_in_words
from recovery_ledger.infra.cli.table import column_widths, display_width, fit, render_terminal
from recovery_ledger.projections.errors import FilterError
from recovery_ledger.projections.filters import bucket_of, resolve_boot, resolve_host


def rule(
    policy: str,
    status: StatusAnswer,
    *,
    alive: bool = True,
    provenance: str = "desktop_managed",
    pop: bool = True,
    pop_reason: str = "available",
    heartbeat: HeartbeatAnswer | None = None,
) -> str:
    facts = LoopFacts(provenance, alive, status, pop, pop_reason)  # type: ignore[arg-type]
    decide = get_policy(policy)
    decision = decide(facts, None)
    if decision.post_heartbeat:
        decision = decide(facts, heartbeat)
    return rule_in_words(facts, decision, heartbeat, pop_reason)


@pytest.mark.parametrize(
    ("policy", "kwargs", "expected"),
    [
        ("v3-pop-guarded", {"provenance": "user_created"}, "user_created: no PoP fallback"),
        ("v3-pop-guarded", {"alive": False}, "runner dead: never revived (cloud said 401)"),
        (
            "v3-pop-guarded",
            {"pop": False, "pop_reason": "missing"},
            "managed key missing: no PoP fallback",
        ),
        ("v1-legacy", {}, "v1-legacy: a 401 is always terminal, no PoP fallback"),
        (
            "v4-key-guarded",
            {"pop": False, "pop_reason": "insecure_mode"},
            "managed key insecure_mode: kept conservatively",
        ),
        (
            "v4-key-guarded",
            {"pop": False, "pop_reason": "not_configured"},
            "no managed key configured: no PoP fallback",
        ),
        (
            "v3-pop-guarded",
            {"heartbeat": HeartbeatAnswer(200, revived=True)},
            "token rejected (401), PoP heartbeat revived it: fresh token adopted",
        ),
        (
            "v3-pop-guarded",
            {"heartbeat": HeartbeatAnswer(None, error="timeout")},
            "token rejected (401), PoP heartbeat inconclusive (timeout): kept, stale token kept",
        ),
        (
            "v3-pop-guarded",
            {"heartbeat": HeartbeatAnswer(410)},
            "token rejected (401), PoP heartbeat answered 410: finalized",
        ),
        (
            "v2-pop-unguarded",
            {"heartbeat": HeartbeatAnswer(503)},
            "v2-pop-unguarded: an inconclusive heartbeat (503) finalizes",
        ),
        (
            "v2-pop-unguarded",
            {"alive": False, "heartbeat": HeartbeatAnswer(200, revived=True)},
            "v2-pop-unguarded: heartbeat posted for a dead runner (revived), then finalized",
        ),
        ("v3-pop-guarded", {"heartbeat": None}, None),
    ],
)
def test_the_rule_on_a_401_in_words(
    policy: str, kwargs: dict[str, object], expected: str | None
) -> None:
    text = rule(policy, StatusAnswer(401), **kwargs)  # type: ignore[arg-type]
    if expected is None:
        assert "no answer recorded" in text
    else:
        assert text == expected


@pytest.mark.parametrize(
    ("status", "alive", "expected"),
    [
        (StatusAnswer(200, "active"), True, "cloud says active: reattached"),
        (StatusAnswer(503), True, "no verdict from the cloud (503): kept conservatively"),
        (
            StatusAnswer(None, error="timeout"),
            True,
            "no verdict from the cloud (timeout): kept conservatively",
        ),
        (StatusAnswer(200, "completed"), True, "cloud says completed: finalized"),
        (StatusAnswer(404), True, "the cloud has no such loop (404): finalized"),
        (StatusAnswer(410), True, "the cloud says gone (410): finalized"),
        (
            StatusAnswer(200, "timed_out"),
            False,
            "runner dead, cloud said timed_out: finalized timed_out",
        ),
    ],
)
def test_the_rule_without_a_401_in_words(status: StatusAnswer, alive: bool, expected: str) -> None:
    for policy in ("v1-legacy", "v2-pop-unguarded", "v3-pop-guarded", "v4-key-guarded"):
        assert rule(policy, status, alive=alive) == expected


BOOTS = ["0a1b2c3d-0000", "0a1b2c99-1111", "ffee0000-2222"]


def test_a_boot_prefix_resolves_when_unique_and_lists_candidates_when_ambiguous() -> None:
    assert resolve_boot("ffee00", BOOTS) == "ffee0000-2222"
    assert resolve_boot("0A1B2C3D", BOOTS) == "0a1b2c3d-0000"  # case does not matter
    assert resolve_boot("0a1b2c3d-0000", BOOTS) == "0a1b2c3d-0000"
    assert resolve_boot("123456", BOOTS) == "123456"  # matches nothing: admits nothing
    with pytest.raises(FilterError, match="0a1b2c3d-0000, 0a1b2c99-1111"):
        resolve_boot("0a1b2c", BOOTS)
    with pytest.raises(FilterError, match="at least 6"):
        resolve_boot("ffee0", BOOTS)


def test_a_host_is_found_by_id_or_name_and_a_shared_name_is_ambiguous() -> None:
    hosts = {"id-1": "laptop", "id-2": "desk", "id-3": "desk"}
    assert resolve_host("laptop", hosts) == "id-1"
    assert resolve_host("id-2", hosts) == "id-2"
    assert resolve_host("nowhere", hosts) == "nowhere"
    with pytest.raises(FilterError, match="id-2, id-3"):
        resolve_host("desk", hosts)


def test_buckets_are_utc_days_iso_weeks_and_months() -> None:
    at = datetime(2026, 1, 1, 23, 30, tzinfo=UTC)
    assert bucket_of(at, "day") == "2026-01-01"
    assert bucket_of(at, "week") == "2026-W01"
    assert bucket_of(datetime(2027, 1, 1, tzinfo=UTC), "week") == "2026-W53"
    assert bucket_of(at, "month") == "2026-01"


def test_fit_measures_display_cells_and_cuts_with_an_ellipsis() -> None:
    assert display_width("日本語") == 6
    assert fit("日本語", 8) == "日本語  "
    assert fit("日本語", 5) == "日本…"  # 2 + 2 + 1 cells
    assert fit("abcdef", 4) == "abc…"
    assert display_width(fit("日本語x", 4)) == 4


def test_the_widest_column_shrinks_until_the_table_fits() -> None:
    headers = ["id", "detail"]
    rows = [["a", "x" * 100], ["b", "short"]]
    assert column_widths(headers, rows, None) == [2, 100]
    assert column_widths(headers, rows, 40) == [2, 36]
    text = render_terminal(headers, rows, [None, "finding"], width=40, colour=False)
    assert all(display_width(line) <= 40 for line in text.splitlines())
    coloured = render_terminal(headers, rows, [None, "finding"], width=40, colour=True)
    assert "\x1b[31m" in coloured.splitlines()[2]
