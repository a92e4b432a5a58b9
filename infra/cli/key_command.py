"""``key show``: the public halves a host hands to others, and their RFC 7638 thumbprints.

The managed key is found as ``boot`` finds it (``--pop-key``, ``RECOVERY_LEDGER_POP_KEY``,
the default location of ``infra.boot.wiring.default_pop_key_path``); the ledger key is the
key directory's checkpoint signing key, whose thumbprint a fleet's collector enrolls. Only
public members are printed; nothing is created.
"""

from __future__ import annotations

import json
from typing import Any

from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.cli.output import emit_json, terminal_safe
from recovery_ledger.infra.errors import LedgerUnreadableError

SCHEMA_VERSION = 1


def _pop_key(ctx: CommandContext) -> tuple[dict[str, Any] | None, str, str]:
    """(the key's view or None, the path looked at, why not usable: ``available`` if it is)."""
    from recovery_ledger.infra.boot.wiring import default_pop_key_path, resolve_pop_key_path
    from recovery_ledger.infra.crypto.pop_signer import ManagedKey, load_managed_key

    path = resolve_pop_key_path(ctx.args.pop_key)
    if path is None:
        return None, str(default_pop_key_path()), "not_configured"
    loaded = load_managed_key(path)
    if isinstance(loaded, ManagedKey):
        return {"jwk": loaded.jwk, "thumbprint": loaded.thumbprint}, str(path), "available"
    return None, str(path), loaded.reason


def _ledger_key(ctx: CommandContext) -> tuple[dict[str, Any] | None, str]:
    from recovery_ledger.infra.crypto.jwk import jwk_thumbprint
    from recovery_ledger.infra.crypto.ledger_key import CheckpointSigner

    signer = CheckpointSigner(ctx.keys)
    try:
        jwk = signer.public_jwk()
    except (OSError, ValueError) as error:
        raise LedgerUnreadableError(f"cannot read the ledger key {signer.path}: {error}") from None
    if jwk is None:
        return None, str(signer.path)
    return {"jwk": jwk, "thumbprint": jwk_thumbprint(jwk)}, str(signer.path)


def cmd_key_show(ctx: CommandContext) -> int:
    pop_key, pop_path, pop_reason = _pop_key(ctx)
    ledger_key, ledger_path = _ledger_key(ctx)
    if ctx.json:
        emit_json(
            {
                "schema_version": SCHEMA_VERSION,
                "pop_key": pop_key,
                "pop_key_path": pop_path,
                "pop_key_reason": pop_reason,
                "ledger_key": ledger_key,
                "ledger_key_path": ledger_path,
            }
        )
        return 0
    print(f"managed key (PoP proofs): {terminal_safe(pop_path)}")
    _print_key(pop_key, f"not usable: {pop_reason}")
    print(f"ledger key (checkpoint signatures): {terminal_safe(ledger_path)}")
    _print_key(ledger_key, "none yet: the first command that writes to the ledger makes it")
    return 0


def _print_key(key: dict[str, Any] | None, absent: str) -> None:
    if key is None:
        print(f"  {absent}")
        return
    print(f"  thumbprint  {key['thumbprint']}")
    print(f"  jwk         {json.dumps(key['jwk'], separators=(',', ':'))}")
