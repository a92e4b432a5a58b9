"""The deterministic slice of the crash campaign: a boot killed once at every transaction
boundary, and everything docs/reliability.md promises checked after each kill."""

from __future__ import annotations

import pytest

from recovery_ledger.infra.boot.service import CRASH_POINTS

from .crash_campaign import campaign

pytestmark = pytest.mark.slow


def test_a_boot_killed_at_every_transaction_boundary_leaves_a_sound_ledger() -> None:
    tally = campaign(list(CRASH_POINTS))
    assert tally.failures == []
    assert tally.trials == len(CRASH_POINTS) == 6
    # the kills between "begun" and "concluded" leave a heartbeat nobody will answer
    assert tally.interrupted_heartbeats >= 2
