"""docs/api.md: its example runs as written, prints what the page says, and the public names
are loaded lazily (``import recovery_ledger.domain.loop`` stays cheap)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO

pytestmark = pytest.mark.slow

API_DOC = REPO / "docs" / "api.md"


def _blocks(kind: str) -> list[str]:
    text = API_DOC.read_text(encoding="utf-8")
    return re.findall(rf"^```{kind}\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # The host's environment must not leak in: the example names its own ledger and key.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOVERY_LEDGER_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_example_in_docs_api_runs_and_prints_what_the_page_says(tmp_path: Path) -> None:
    *_, example = _blocks("python")
    (expected,) = _blocks("text")

    result = _python(example, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_importing_the_domain_does_not_import_infra_but_the_api_is_there_on_first_use(
    tmp_path: Path,
) -> None:
    probe = (
        "import sys, recovery_ledger.domain.loop\n"
        "assert not any(m.startswith('recovery_ledger.infra') for m in sys.modules), 'eager'\n"
        "import recovery_ledger\n"
        "assert callable(recovery_ledger.open_ledger) and callable(recovery_ledger.boot)\n"
        "assert issubclass(recovery_ledger.BadInputError, recovery_ledger.LedgerError)\n"
        "assert set(recovery_ledger.__all__) <= set(dir(recovery_ledger))\n"
        "print(recovery_ledger.__version__)\n"
    )
    result = _python(probe, tmp_path)
    assert result.returncode == 0, result.stderr
    from recovery_ledger.infra.version import __version__

    assert result.stdout.strip() == __version__
