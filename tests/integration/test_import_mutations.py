"""``import`` of a damaged export: every one of hundreds of mutated files is refused with exit 2
(never 1, never a hang), and ``import /dev/zero`` ends."""

from __future__ import annotations

import contextlib
import io
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from recovery_ledger.infra.cli.main import run

from ..conftest import run_cli
from .ledger_builder import build_ledger

MUTANTS = 520
ODD_VALUES: list[Any] = [None, True, -1, 0, 1.5, 2**64, 10**400, "", "x", "zz" * 32, [], {}]
FIELDS = [
    "scope",
    "position",
    "originator_id",
    "originator_version",
    "topic",
    "state",
    "prev_chain_hash",
    "chain_hash",
]


@pytest.fixture(scope="module")
def export_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = tmp_path_factory.mktemp("source")
    env = {
        "RECOVERY_LEDGER_DB": str(directory / "ledger.sqlite"),
        "RECOVERY_LEDGER_KEYS": str(directory / "keys"),
    }
    build_ledger(env["RECOVERY_LEDGER_DB"], directory / "keys")
    result = run_cli("export", env=env)
    assert result.code == 0
    return result.stdout


def _flip(text: str, rng: random.Random) -> str:
    i = rng.randrange(len(text))
    return text[:i] + rng.choice('0aZ"{}:,\\ \x00é') + text[i + 1 :]


def _delete(text: str, rng: random.Random) -> str:
    i = rng.randrange(len(text))
    return text[:i] + text[i + 1 :]


def _truncate(text: str, rng: random.Random) -> str:
    return text[: rng.randrange(1, len(text))]


def _odd_field(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    i = rng.randrange(len(lines))
    data = json.loads(lines[i])
    field = rng.choice(FIELDS)
    if rng.random() < 0.2:
        data.pop(field)
    else:
        data[field] = rng.choice(ODD_VALUES)
    lines[i] = json.dumps(data)
    return "\n".join(lines) + "\n"


def _shuffle_lines(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    i = rng.randrange(len(lines) - 1)
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    if rng.random() < 0.5:
        lines.insert(rng.randrange(len(lines)), lines[rng.randrange(len(lines))])
    return "\n".join(lines) + "\n"


def _nested(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    lines.insert(rng.randrange(len(lines)), "[" * 100_000)
    return "\n".join(lines) + "\n"


MUTATIONS: list[Callable[[str, random.Random], str]] = [
    _flip,
    _delete,
    _truncate,
    _odd_field,
    _shuffle_lines,
    _nested,
]


def _same_events(original: str, mutated: str) -> bool:
    """True when the mutation left the events as they were: whitespace, positions that keep
    their order (import keeps the order, not the numbers), or a cut at a line boundary (a
    whole-ledger export of fewer events; docs/integrity.md says so)."""
    try:
        rows = [json.loads(line) for line in mutated.splitlines() if line.strip()]
    except ValueError:
        return False
    before = [json.loads(line) for line in original.splitlines()]
    try:
        strip = [_substance(row) for row in rows]
    except (ValueError, TypeError, AttributeError):
        return False
    kept = [_substance(row) for row in before]
    return strip == kept[: len(strip)]


def _substance(row: dict[str, Any]) -> dict[str, Any]:
    """A line as import reads it: the state as its bytes (base64 has spare bits: "Q==" and
    "R==" are one byte), the aggregate id as a UUID (which ignores where hyphens are), the
    position left out."""
    import base64
    from uuid import UUID

    kept = {k: v for k, v in row.items() if k not in ("position", "state", "originator_id")}
    kept["state"] = base64.b64decode(row["state"], validate=True)
    kept["originator_id"] = UUID(row["originator_id"])
    return kept


def _import(path: Path, ledger_dir: Path) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = run(
            [
                "import",
                str(path),
                "--ledger",
                str(ledger_dir / "ledger.sqlite"),
                "--keys",
                str(ledger_dir / "keys"),
            ]
        )
    return code, stderr.getvalue()


def test_every_mutated_export_is_refused_with_exit_2(export_text: str, tmp_path: Path) -> None:
    rng = random.Random(20261125)
    refused = 0
    for n in range(MUTANTS):
        mutated = rng.choice(MUTATIONS)(export_text, rng)
        if mutated == export_text:
            continue
        path = tmp_path / f"mutant-{n}.jsonl"
        path.write_text(mutated, encoding="utf-8", errors="surrogatepass")
        target = tmp_path / f"target-{n}"
        target.mkdir()
        code, stderr = _import(path, target)
        assert stderr.count("\n") <= 1, (n, stderr)
        if code == 0:
            assert _same_events(export_text, mutated), (n, mutated[:300])
        else:
            assert code == 2, (n, code, stderr)
            assert not (target / "ledger.sqlite").exists(), n
            refused += 1
    assert refused > MUTANTS * 0.9


def test_import_of_dev_zero_ends_with_exit_2(tmp_path: Path) -> None:
    result = run_cli(
        "import",
        "/dev/zero",
        "--ledger",
        str(tmp_path / "ledger.sqlite"),
        "--keys",
        str(tmp_path / "keys"),
        timeout=60,
    )
    assert result.code == 2, result.stderr
    assert not (tmp_path / "ledger.sqlite").exists()
