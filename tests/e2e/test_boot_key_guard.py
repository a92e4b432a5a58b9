"""Issue 11 points 1 and 2 through the real command line: a managed key that is configured but
unusable never kills a live loop under the default policy, the boot says what it could not do
(``pop_key``, ``warnings`` on stdout and stderr, per-loop ``pop``), the key state is recorded,
and ``zombies``/``replay`` read it."""

# ruff: noqa: F811 - `world` is the fixture of test_boot_e2e, imported to be used here

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..conftest import CliResult, run_cli
from .test_boot_e2e import World, outcome, world  # noqa: F401 - the fixture

WARNING = "recovery-ledger: warning: "


def _missing(path: Path) -> Path:
    return path.with_name("managd_key.pem")  # the one-character typo


def _insecure(path: Path) -> Path:
    os.chmod(path, 0o644)
    return path


def _unreadable(path: Path) -> Path:
    directory = path.with_name("key-dir.pem")  # reading a directory fails, also for root
    directory.mkdir(mode=0o700)
    return directory


def _not_pem(path: Path) -> Path:
    other = path.with_name("notes.pem")
    other.write_text("not a key\n")
    os.chmod(other, 0o600)
    return other


def _wrong_type(path: Path) -> Path:
    other = path.with_name("p384.pem")
    key = ec.generate_private_key(ec.SECP384R1())
    other.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(other, 0o600)
    return other


BROKEN_KEYS: dict[str, Callable[[Path], Path]] = {
    "missing": _missing,
    "insecure_mode": _insecure,
    "unreadable": _unreadable,
    "not_pem": _not_pem,
    "wrong_key_type": _wrong_type,
}


def boot(world: World, *args: str, env: dict[str, str] | None = None) -> CliResult:
    full = {**world.ledger.env(), **(env or {})}
    return run_cli("boot", "--json", "--cloud", world.cloud.url, *args, env=full)


def warnings_on_stderr(result: CliResult) -> list[str]:
    return [
        line.removeprefix(WARNING)
        for line in result.stderr.splitlines()
        if line.startswith(WARNING)
    ]


@pytest.mark.parametrize("reason", sorted(BROKEN_KEYS))
def test_an_unusable_configured_key_keeps_the_live_loop_and_says_why(
    world: World, reason: str, tmp_path: Path
) -> None:
    world.add("L", stale=True)
    stale = world.cli("token", "get", "--loop", "L").stdout
    key = BROKEN_KEYS[reason](world.pop_key)
    result = boot(world, "--pop-key", str(key), env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert result.code == 0, result.stderr
    document: dict[str, Any] = result.json()  # type: ignore[assignment]
    assert document["policy"] == "v4-key-guarded"
    assert document["pop_key"] == {
        "configured": True,
        "usable": False,
        "reason": reason,
        "thumbprint": None,
    }
    entry = world.entry(document, "L")
    assert entry["classification"] == "pop_unavailable"
    assert outcome(entry) == ("reattached", "conservative")
    assert entry["pop"] == {"available": False, "reason": reason}
    assert world.cloud.stats("L")["heartbeat_posts"] == 0
    assert world.cli("token", "get", "--loop", "L").stdout == stale  # stale token kept
    [warning] = document["warnings"]
    assert warnings_on_stderr(result) == [warning]
    assert reason in warning and str(key) in warning
    if reason == "insecure_mode":
        assert f"chmod 600 {key}" in warning
    zombies = world.cli("zombies", "--json").json()
    [finding] = [f for f in zombies["findings"] if f["kind"] == "pop_key_unusable"]  # type: ignore[index]
    assert finding["loop_id"] == "L" and reason in finding["detail"]
    replay = world.cli("replay", "--json")
    assert replay.code == 0, replay.stdout
    assert world.cli("replay", "--policy", "v3-pop-guarded").code == 5  # v3 would kill it


def test_no_key_configured_acts_as_v3_and_warns(world: World, tmp_path: Path) -> None:
    world.add("L", stale=True)
    world.add("U", provenance="user_created")
    result = boot(world, env={"XDG_CONFIG_HOME": str(tmp_path / "empty-config")})
    assert result.code == 0, result.stderr
    document: dict[str, Any] = result.json()  # type: ignore[assignment]
    assert document["pop_key"] == {
        "configured": False,
        "usable": False,
        "reason": "not_configured",
        "thumbprint": None,
    }
    assert outcome(world.entry(document, "L")) == ("finalized", "unauthorized")
    assert world.entry(document, "U")["pop"] == {"available": False, "reason": "user_created"}
    [warning] = document["warnings"]
    assert warning.startswith("no managed key is configured") and "1 desktop_managed" in warning
    assert warnings_on_stderr(result) == [warning]
    kinds = {f["kind"] for f in world.cli("zombies", "--json").json()["findings"]}  # type: ignore[index]
    assert "pop_key_unusable" not in kinds


def test_the_default_location_and_the_env_configure_the_key(world: World, tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "recovery-ledger").mkdir(parents=True)
    world.pop_key.rename(config / "recovery-ledger" / "managed_key.pem")
    world.add("L", stale=True)
    result = boot(world, env={"XDG_CONFIG_HOME": str(config)})
    document: dict[str, Any] = result.json()  # type: ignore[assignment]
    assert document["pop_key"]["usable"] is True and document["pop_key"]["reason"] == "available"
    assert len(document["pop_key"]["thumbprint"]) == 43
    assert document["warnings"] == [] and WARNING not in result.stderr
    assert outcome(world.entry(document, "L")) == ("reattached", "revived")
    assert world.entry(document, "L")["pop"] == {"available": True, "reason": "available"}

    typo = str(config / "recovery-ledger" / "managed-key.pem")
    world.add("M", stale=True)
    env = {"XDG_CONFIG_HOME": str(config), "RECOVERY_LEDGER_POP_KEY": typo}
    document = boot(world, env=env).json()  # type: ignore[assignment]
    assert document["pop_key"]["reason"] == "missing"  # the env wins over the default file
    assert outcome(world.entry(document, "M")) == ("reattached", "conservative")


def test_a_cloud_that_answers_nothing_is_a_warning_not_all_well(
    world: World, tmp_path: Path
) -> None:
    world.add("L")
    world.cloud.inject_fault(None, endpoint="status", drop=True)
    result = boot(world, "--pop-key", str(world.pop_key))
    document: dict[str, Any] = result.json()  # type: ignore[assignment]
    assert outcome(world.entry(document, "L")) == ("reattached", "conservative")
    [warning] = document["warnings"]
    assert "answered none of this boot's 2 status request(s)" in warning
    assert warnings_on_stderr(result) == [warning]
