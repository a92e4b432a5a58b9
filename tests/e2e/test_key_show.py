"""`key show` through the real command line: the public halves and their RFC 7638
thumbprints (checked against joserfc, an independent implementation), never a private
member, and nothing created."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey, OKPKey

from recovery_ledger.infra.refcloud.demo_keys import write_managed_key

from ..conftest import CliResult, Ledger, run_cli
from ..integration.test_store import make_token

pytestmark = pytest.mark.slow


def _as_dict(result: CliResult) -> dict[str, Any]:
    assert result.code == 0, result.stderr
    document = result.json()
    assert isinstance(document, dict)
    return document


def _private_pem(path: Path) -> str:
    return "".join(path.read_text().splitlines()[1:-1])


def test_key_show_prints_both_public_keys_and_their_thumbprints(
    sqlite_ledger: Ledger, runner: subprocess.Popen[bytes]
) -> None:
    env = sqlite_ledger.env()
    registered = run_cli(
        "loop", "register", "--loop", "L1", "--pid", str(runner.pid),
        "--provenance", "desktop_managed", stdin=make_token("jti-1"), env=env,
    )  # fmt: skip
    assert registered.code == 0, registered.stderr
    config = sqlite_ledger.keys_dir.parent / "config"
    env = {**env, "XDG_CONFIG_HOME": str(config)}
    (config / "recovery-ledger").mkdir(parents=True)
    pop_path = config / "recovery-ledger" / "managed_key.pem"  # where boot looks by default
    jwk = write_managed_key(pop_path)

    document = _as_dict(run_cli("key", "show", "--json", env=env))
    assert document["schema_version"] == 1
    assert document["pop_key"]["jwk"] == jwk
    assert (
        document["pop_key"]["thumbprint"]
        == ECKey.import_key(document["pop_key"]["jwk"]).thumbprint()
    )
    ledger_key = document["ledger_key"]
    assert set(ledger_key["jwk"]) == {"kty", "crv", "x"}  # no "d", ever
    assert ledger_key["thumbprint"] == OKPKey.import_key(ledger_key["jwk"]).thumbprint()

    human = run_cli("key", "show", env=env)
    assert human.code == 0, human.stderr
    assert document["pop_key"]["thumbprint"] in human.stdout
    assert ledger_key["thumbprint"] in human.stdout
    signing_pem = sqlite_ledger.keys_dir / "checkpoint_signing.pem"
    for output in (human.stdout, str(document)):
        assert _private_pem(pop_path) not in output and _private_pem(signing_pem) not in output


def test_key_show_names_the_pop_key_given_by_option_and_says_why_not_usable(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    ledger = tmp_path / "ledger.sqlite"
    common = ("--ledger", str(ledger), "--keys", str(keys))
    document = _as_dict(
        run_cli("key", "show", "--json", "--pop-key", str(tmp_path / "nope.pem"), *common)
    )
    assert document["pop_key"] is None and document["pop_key_reason"] == "missing"
    assert document["ledger_key"] is None  # no ledger yet: nothing to show
    assert not keys.exists() and not ledger.exists()  # and nothing was created

    other = tmp_path / "elsewhere.pem"
    jwk = write_managed_key(other)
    by_env = _as_dict(
        run_cli("key", "show", "--json", *common, env={"RECOVERY_LEDGER_POP_KEY": str(other)})
    )
    assert by_env["pop_key"]["jwk"] == jwk and by_env["pop_key_path"] == str(other)

    human = run_cli("key", "show", "--pop-key", str(tmp_path / "nope.pem"), *common)
    assert human.code == 0 and "not usable: missing" in human.stdout
