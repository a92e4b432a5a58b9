"""The JSON of ``boot --json`` (docs/contract.md section 5) and the short human summary.

Built from what the boot recorded; the token itself never appears, only its
jti and expiry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recovery_ledger.infra.boot.service import BootResult, LoopRun
from recovery_ledger.projections.timestamps import iso


def boot_document(result: BootResult, warnings: Sequence[str] | None = None) -> dict[str, Any]:
    """The document ``boot --json`` prints; ``warnings`` default to ``boot_warnings(result)``."""
    return {
        "schema_version": 1,  # docs/schemas/boot.schema.json
        "boot_id": str(result.boot_id),
        "policy": result.policy,
        "started_at": iso(result.started_at),
        "finished_at": iso(result.finished_at),
        "pop_key": result.pop_key.as_record(),
        "warnings": list(boot_warnings(result) if warnings is None else warnings),
        "loops": [_loop_entry(run) for run in result.runs],
        "summary": dict(result.summary),
    }


def boot_warnings(result: BootResult) -> list[str]:
    """What the boot could not do (contract section 5), one line each. Printed through
    ``terminal_safe`` by the command, as every line here may hold recorded text."""
    warnings = []
    key = result.pop_key
    managed = [run for run in result.runs if run.loop.provenance == "desktop_managed"]
    if key.configured and not key.usable:
        warnings.append(f"managed key not usable ({key.reason}): {key.message}")
    elif not key.configured and managed:
        warnings.append(
            f"{key.message} while {len(managed)} desktop_managed loop(s) are "
            "open: a loop whose runner token the cloud rejects cannot be revived"
        )
    answers = [answer for run in result.runs for answer in run.answers]
    if answers and all(answer.error in ("timeout", "network") for answer in answers):
        warnings.append(
            f"the cloud ({result.cloud_url}) answered none of this boot's "
            f"{len(answers)} status request(s) (every one a network error or timeout): "
            "open loops were kept without its word"
        )
    return warnings


def _loop_entry(run: LoopRun) -> dict[str, Any]:
    assert run.liveness is not None and run.decision is not None
    outcome = run.decision.outcome
    status = run.answers[-1]
    heartbeat = run.heartbeat
    token = run.loop.token
    return {
        "loop_id": run.loop.loop_id,
        "provenance": run.loop.provenance,
        "pid": run.loop.pid,
        "pid_alive": run.liveness.alive,
        "pop": {"available": run.pop_available, "reason": run.pop_reason},
        "cloud": {
            "http_status": status.http_status,
            "status": status.status,
            "error": status.error,
        },
        "classification": run.decision.classification,
        "heartbeat": None
        if heartbeat is None
        else {
            "http_status": heartbeat.http_status,
            "revived": heartbeat.revived,
            "error": heartbeat.error,
        },
        "outcome": None
        if outcome is None
        else ("finalized" if outcome.finalized else "reattached"),
        "reattach_mode": outcome.reattach_mode if outcome else None,
        "finalize_reason": outcome.finalize_reason if outcome else None,
        "token": None
        if token is None
        else {
            "jti": token.jti,
            "expires_at": iso(token.expires_at),
        },
    }


def boot_lines(result: BootResult) -> list[str]:
    """One line per loop that changed (finalized or revived), then the totals."""
    lines = []
    for run in result.runs:
        outcome = run.decision.outcome if run.decision else None
        if outcome is None:
            continue
        if outcome.finalized:
            lines.append(f"finalized  {run.loop.loop_id}  ({outcome.finalize_reason})")
        elif outcome.reattach_mode == "revived":
            lines.append(f"revived    {run.loop.loop_id}  (fresh token adopted)")
    s = result.summary
    lines.append(
        f"boot {result.boot_id} ({result.policy}): examined {s['examined']}, "
        f"reattached {s['reattached']} (revived {s['revived']}), "
        f"finalized {s['finalized']}, heartbeats {s['heartbeats_posted']}"
    )
    return lines
