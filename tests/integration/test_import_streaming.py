"""``import`` streams: what it holds does not grow with the file (the export is read twice,
in batches), it writes through one transaction on either backend, and it still refuses what
it refused when it read the whole file at once."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from recovery_ledger.infra.errors import BadInputError
from recovery_ledger.infra.integrity.importer import BATCH, check_export, import_checked

from ..boot_history import quiet_boot, register_loops
from ..conftest import Ledger, event_count, run_cli

LOOPS = 20
EVENTS_PER_BOOT = 4 * LOOPS + 2  # per loop: runner, cloud, classified, reattached; the boot's 2


def _app(ledger_arg: str, keys: Path) -> Any:
    from recovery_ledger.infra.bootstrap import ledger_app
    from recovery_ledger.infra.crypto.keystore import KeyStore
    from recovery_ledger.infra.store.location import resolve_location

    return ledger_app(resolve_location(ledger_arg), KeyStore(keys), create=True)


def _write_boots(app: Any, boots: int) -> None:
    """Boots of the same LOOPS loops, as ``boot`` writes them (one transaction a boot)."""

    loops = register_loops(app, LOOPS)
    for _ in range(boots):
        boot = quiet_boot(loops)
        app.save_boot_progress(boot, *loops)


def _export(directory: Path, boots: int) -> Path:
    from recovery_ledger.infra.integrity.transfer import export_lines

    app = _app(str(directory / "source.sqlite"), directory / "source.keys")
    _write_boots(app, boots)
    path = directory / "export.jsonl"
    with path.open("w") as out:
        for line in export_lines(app):
            out.write(line + "\n")
    app.close()
    return path


def _peak_of_import(export: Path, target: Path) -> tuple[int, int]:
    """(peak bytes Python allocated while both passes ran, events written)."""
    app = _app(str(target / "ledger.sqlite"), target / "keys")
    tracemalloc.start()
    try:
        with export.open("rb") as handle, check_export(handle) as checked:
            written, _ = import_checked(app, checked)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        app.close()
    return peak, written


@pytest.mark.slow
def test_what_import_holds_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """Four times the events, the same peak (give or take): the whole-file reader's peak
    grew with the file (264 MB for 204k events)."""
    small_boots = 2 * BATCH // EVENTS_PER_BOOT  # two batches' worth, so both sizes batch
    sizes = {"small": small_boots, "large": 4 * small_boots}
    peaks = {}
    for name, boots in sizes.items():
        directory = tmp_path / name
        directory.mkdir()
        export = _export(directory, boots)
        lines = sum(1 for _ in export.open())
        target = directory / "target"
        target.mkdir()
        peak, written = _peak_of_import(export, target)
        assert written == lines == LOOPS * 2 + boots * EVENTS_PER_BOOT
        peaks[name] = peak
    assert peaks["large"] < 1.3 * peaks["small"], peaks


def test_a_file_changed_between_the_two_passes_writes_nothing(tmp_path: Path) -> None:
    export = _export(tmp_path, 2)
    app = _app(str(tmp_path / "target.sqlite"), tmp_path / "target.keys")
    try:
        with export.open("rb") as handle, check_export(handle) as checked:
            with export.open("a") as appending:
                appending.write("\n")  # any change at all: the second pass must not trust it
            with pytest.raises(BadInputError, match="changed while it was imported"):
                import_checked(app, checked)
        assert app.recorder.max_notification_id() in (None, 0)
    finally:
        app.close()


def test_an_export_piped_into_import_is_read_twice_from_a_private_copy(tmp_path: Path) -> None:
    export = _export(tmp_path, 2)
    env = {
        "RECOVERY_LEDGER_DB": str(tmp_path / "target.sqlite"),
        "RECOVERY_LEDGER_KEYS": str(tmp_path / "target.keys"),
    }
    text = export.read_text()
    result = run_cli("import", "/dev/stdin", stdin=text, env=env)
    assert result.code == 0, result.stderr
    assert event_count(env) == len(text.splitlines())


@pytest.mark.both_backends
def test_import_into_a_ledger_that_holds_part_of_it(ledger: Ledger, tmp_path: Path) -> None:
    """Into a ledger holding the export's first events (so every batch is looked up):
    those are skipped, the rest written, on either backend; the ledger verifies."""
    export = _export(tmp_path, 2 * BATCH // EVENTS_PER_BOOT + 1)
    lines = export.read_text().splitlines()
    head = tmp_path / "head.jsonl"
    head.write_text("".join(line + "\n" for line in lines[: BATCH + 7]))
    assert run_cli("import", str(head), env=ledger.env()).code == 0
    result = run_cli("import", "--json", str(export), env=ledger.env())
    assert result.code == 0, result.stderr
    assert result.json() == {
        "schema_version": 1,
        "imported": len(lines) - BATCH - 7,
        "already_present": BATCH + 7,
    }
    assert event_count(ledger.env()) == len(lines)


@pytest.mark.both_backends
def test_an_aggregate_starting_past_version_1_is_refused_whole(
    ledger: Ledger, tmp_path: Path
) -> None:
    """A one-loop export without its first events: every line is fine on its own, but the
    ledger has nothing for them to follow. Found in the second pass: nothing written."""
    export = _export(tmp_path, 2)
    loop_lines = [
        line
        for line in export.read_text().splitlines()
        if json.loads(line)["topic"].startswith("rl:Loop.")
    ]
    first = json.loads(loop_lines[0])["originator_id"]
    one_loop = [
        json.dumps({**json.loads(line), "scope": "loop"})
        for line in loop_lines
        if json.loads(line)["originator_id"] == first
    ]
    head = tmp_path / "other.jsonl"
    head.write_text(export.read_text().splitlines()[0] + "\n")  # something else is there
    assert run_cli("import", str(head), env=ledger.env()).code == 0
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(line + "\n" for line in one_loop[2:]))
    result = run_cli("import", str(cut), env=ledger.env())
    assert result.code == 2, result.stderr
    assert "would start at version 3 with nothing before it" in result.stderr
    assert event_count(ledger.env()) == 1
