"""The one place that turns settings into working services (cosmicpython's ``bootstrap``).

The command line, the demo and a host that imports the package all come through here: each
setting is resolved (argument, else environment variable, else default) and validated before
the ledger is touched or a token leaves the process, and the real adapters are plugged into
the boot service's ports. Nothing is imported before it is needed, so ``loops`` never pays for
the cloud client and a host pays only for what it calls.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from recovery_ledger.domain.policies import DEFAULT_POLICY, get_policy
from recovery_ledger.domain.runner_token import accept_runner_token
from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.errors import BadInputError
from recovery_ledger.infra.store.location import LedgerLocation, resolve_location

if TYPE_CHECKING:
    from recovery_ledger.domain.loop import Loop
    from recovery_ledger.infra.boot.ports import Cloud, PopKey
    from recovery_ledger.infra.boot.service import BootResult, BootService
    from recovery_ledger.infra.store.app import LedgerApp

MAX_LOOP_ID_LENGTH = 256


@dataclass(frozen=True)
class BootOptions:
    """How one boot runs (docs/contract.md sections 1 and 5). ``None`` means: the environment
    (``RECOVERY_LEDGER_CLOUD_URL``, ``RECOVERY_LEDGER_POP_KEY``), else the default."""

    cloud_url: str | None = None
    pop_key: str | Path | None = None
    policy: str = DEFAULT_POLICY
    concurrency: int = 16
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 5.0
    deadline_s: float = 20.0

    def checked(self) -> BootOptions:
        """These options with the cloud URL resolved and checked, or ``BadInputError``
        (``UnknownPolicyError`` for a policy that does not exist)."""
        get_policy(self.policy)
        if self.concurrency < 1:
            raise BadInputError("--concurrency must be at least 1")
        for option, value in (
            ("--connect-timeout", self.connect_timeout_s),
            ("--read-timeout", self.read_timeout_s),
            ("--deadline", self.deadline_s),
        ):
            if not value > 0:
                raise BadInputError(f"{option} must be positive")
        return BootOptions(
            _cloud_url(self.cloud_url),
            self.pop_key,
            self.policy,
            self.concurrency,
            self.connect_timeout_s,
            self.read_timeout_s,
            self.deadline_s,
        )


def _cloud_url(option: str | None) -> str | None:
    from recovery_ledger.infra.cloud.url_policy import check_cloud_url

    value = option or os.environ.get("RECOVERY_LEDGER_CLOUD_URL")
    return check_cloud_url(value) if value else None


def ledger_app(location: LedgerLocation, keys: KeyStore, *, create: bool = False) -> LedgerApp:
    """The ledger application over this key directory (``create``: make a SQLite ledger
    that is not there yet)."""
    from recovery_ledger.infra.store.app import open_ledger

    return open_ledger(location, keys, create=create)


class Ledger:
    """One ledger and its key directory, and every use case of the contract as a method.

    The ledger is opened on first use and kept open until ``close`` (or the ``with`` block's
    end). Failures raise the ``LedgerError`` family (``recovery_ledger.infra.errors``), which
    the command line maps to exit codes.
    """

    def __init__(self, location: LedgerLocation, keys_dir: Path) -> None:
        self.location = location
        self.keys_dir = keys_dir
        self.keys = KeyStore(keys_dir)
        self._app: LedgerApp | None = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None

    def app(self, *, create: bool = False) -> LedgerApp:
        """The eventsourcing application; ``create`` makes a SQLite ledger that is not there."""
        if self._app is None:
            self._app = ledger_app(self.location, self.keys, create=create)
        return self._app

    def writable_app(self, *, create: bool = False) -> LedgerApp:
        """The application, once the ledger is shown to be this installation's and whole:
        else exit 4 with nothing written, so a detected problem is never signed over
        (docs/integrity.md, "Before every write")."""
        from recovery_ledger.infra.errors import LedgerUnreadableError
        from recovery_ledger.infra.integrity.guard import check_before_write, refuse_wiped

        path = self.location.path
        if self.location.read_only:
            raise LedgerUnreadableError(f"the ledger {path} is read-only; nothing was written")
        if path is not None and (not path.exists() or path.stat().st_size == 0):
            refuse_wiped(self.keys_dir, 0, f"the ledger {path}")
        app = self.app(create=create)
        check_before_write(app)
        return app

    def host_id(self) -> str:
        from recovery_ledger.infra.boot.host import host_id

        return host_id(self.keys_dir)

    # -- the host's records -------------------------------------------------------------------

    def register_loop(self, loop_id: str, *, pid: int, provenance: str, token: str) -> Loop:
        """Record a loop the host started, with its runner's pid and its first runner token."""
        from recovery_ledger.domain.observations import provenance_of
        from recovery_ledger.infra.boot.liveness import process_start_time

        # Bad input is refused before a ledger is created; the store runs the same checks.
        check_loop_id(loop_id)
        provenance_of(provenance)
        if pid <= 0:
            raise BadInputError(f"pid must be a positive integer, not {pid}")
        accept_runner_token(token, loop_id)
        try:
            start_time = process_start_time(pid)
        except Exception:
            raise BadInputError(f"no running process with pid {pid}") from None
        return self.writable_app(create=True).register_loop(
            loop_id=loop_id,
            provenance=provenance,
            pid=pid,
            pid_start_time=start_time,
            host_id=self.host_id(),
            token=token,
        )

    def registered_as(self, loop_id: str, *, pid: int, provenance: str, token: str) -> Loop | None:
        """The loop when it is already registered with this provenance, pid, process start
        time and token (contract section 5: registering it again is a no-op); else None."""
        from recovery_ledger.infra.boot.liveness import process_start_time

        # Bad input is refused before the ledger is opened.
        info = accept_runner_token(token, check_loop_id(loop_id))
        try:
            start_time = process_start_time(pid)
        except Exception:
            raise BadInputError(f"no running process with pid {pid}") from None
        loop = self.writable_app(create=True).find_loop(loop_id)
        if loop is None or loop.token is None:
            return None
        same = (loop.provenance, loop.pid, loop.pid_start_time, loop.token.fingerprint) == (
            provenance,
            pid,
            start_time,
            info.fingerprint,
        )
        return loop if same else None

    def record_token(self, loop_id: str, token: str) -> Loop:
        """Record a runner token the host obtained while the loop ran."""
        accept_runner_token(token, loop_id)  # refused before the ledger is opened
        return self.writable_app().record_token(check_loop_id(loop_id), token)

    def finalize_loop(self, loop_id: str, reason: str) -> Loop:
        """Record that the host ended the loop itself; its token is cleared and shredded."""
        return self.writable_app().finalize_loop(check_loop_id(loop_id), reason)

    def token(self, loop_id: str) -> str:
        """The loop's current runner token, unsealed."""
        return self.app().current_token(check_loop_id(loop_id))

    def loops(self) -> list[Loop]:
        """Every loop of the ledger, in registration order."""
        return self.app().loops()

    # -- the boot ---------------------------------------------------------------------------

    def boot(
        self,
        options: BootOptions | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> BootResult:
        """Decide, for every open loop of this host, to reattach, revive or finalize; every
        observation and decision is committed before this returns (record, then act).

        Runs its own event loop: from async code, call it in a thread. Raises
        ``LedgerBusyError`` while another boot holds the ledger. ``progress(done, total)``
        is called as loops are examined. What the boot could not do (an unusable managed
        key, a cloud that answered nothing) is in ``boot_warnings(result)``."""
        from recovery_ledger.infra.boot.lock import boot_lock
        from recovery_ledger.infra.boot.wiring import load_pop_key, resolve_pop_key_path

        checked = (options or BootOptions()).checked()
        pop_key = load_pop_key(resolve_pop_key_path(_optional_str(checked.pop_key)))
        app = self.writable_app(create=True)  # before the key directory gains a host id
        this_host = self.host_id()
        with boot_lock(self.location, this_host):
            # A fleet ledger holds other hosts' loops too: their pids mean nothing here, and
            # probing them would finalize live loops of another machine as dead.
            # Both read the open-loop index: neither grows with the ledger's history.
            app.shred_cleared_keys(this_host)
            open_loops = app.open_loops(this_host)
            if open_loops and checked.cloud_url is None:
                raise BadInputError(
                    "no cloud URL: pass --cloud URL or set RECOVERY_LEDGER_CLOUD_URL"
                )
            import asyncio  # the boot's alone: every other command starts without it

            return asyncio.run(self._boot(app, checked, pop_key, open_loops, progress))

    async def _boot(
        self,
        app: LedgerApp,
        options: BootOptions,
        pop_key: PopKey,
        open_loops: list[Loop],
        progress: Callable[[int, int], None] | None,
    ) -> BootResult:
        def service(cloud: Cloud | None) -> BootService:
            return boot_service(app, options, pop_key, cloud, self.host_id(), open_loops, progress)

        if not open_loops:  # nothing to ask the cloud: no client, no HTTP stack imported
            return await service(None).run()
        from recovery_ledger.infra.cloud.client import CloudClient

        assert options.cloud_url is not None
        async with CloudClient(
            options.cloud_url,
            connect_timeout=options.connect_timeout_s,
            read_timeout=options.read_timeout_s,
        ) as cloud:
            return await service(cloud).run()


def boot_service(
    app: LedgerApp,
    options: BootOptions,
    pop_key: PopKey,
    cloud: Cloud | None,
    host_id: str,
    open_loops: list[Loop] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BootService:
    """The boot service over the real adapters: the ledger, its sealer, psutil, the clock."""
    from recovery_ledger.infra.boot.host import host_name
    from recovery_ledger.infra.boot.service import BootService, BootSettings
    from recovery_ledger.infra.boot.wiring import PsutilProbe, SystemClock
    from recovery_ledger.infra.version import __version__

    settings = BootSettings(
        policy=options.policy,
        host_id=host_id,
        host_name=host_name(),
        app_version=__version__,
        cloud_url=options.cloud_url or "",
        concurrency=options.concurrency,
        deadline_s=network_share(options.deadline_s),
    )
    return BootService(
        app,
        settings,
        sealer=app.sealer,
        cloud=cloud,
        probe=PsutilProbe(),
        pop_key=pop_key,
        clock=SystemClock(),
        progress=progress,
        open_loops=open_loops,
    )


def network_share(deadline_s: float) -> float:
    """How much of ``--deadline`` the cloud may take: the rest is for opening the ledger,
    the commits and the report (seconds on a loaded machine), so the whole command ends
    within the deadline."""
    return deadline_s * 0.6


def check_loop_id(loop_id: str) -> str:
    if not loop_id.strip() or len(loop_id) > MAX_LOOP_ID_LENGTH or not loop_id.isprintable():
        raise BadInputError(
            f"--loop must be a printable loop id of at most {MAX_LOOP_ID_LENGTH} characters"
        )
    return loop_id


def _optional_str(value: str | Path | None) -> str | None:
    return None if value is None else str(value)


def open_ledger(ledger: str | Path | None = None, *, keys: str | Path | None = None) -> Ledger:
    """A handle on the ledger: ``ledger`` is a SQLite path or a ``postgresql://`` DSN
    (default: ``RECOVERY_LEDGER_DB``, else the platform's user data directory); ``keys`` the
    key directory (default: ``RECOVERY_LEDGER_KEYS``, else ``<ledger>.keys`` next to a SQLite
    ledger). Nothing is opened or created until the first call that needs it."""
    location = resolve_location(None if ledger is None else str(ledger))
    keys_value = keys if keys is not None else os.environ.get("RECOVERY_LEDGER_KEYS")
    keys_dir = (
        Path(keys_value).expanduser().absolute() if keys_value else location.default_keys_dir()
    )
    return Ledger(location, keys_dir)


def boot(
    ledger: str | Path | None = None,
    *,
    keys: str | Path | None = None,
    options: BootOptions | None = None,
) -> BootResult:
    """One boot of the ledger (see ``Ledger.boot``), opened and closed around it."""
    with open_ledger(ledger, keys=keys) as handle:
        return handle.boot(options)
