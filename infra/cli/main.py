"""Entry point of ``recovery-ledger``: parse, dispatch, map failures to exit codes."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence
from importlib import import_module

from recovery_ledger.domain.errors import DomainError
from recovery_ledger.infra.cli.exit_codes import (
    BAD_INPUT,
    INTERRUPTED,
    UNEXPECTED,
    UNREADABLE,
    environment_fault,
    exit_code_for,
)
from recovery_ledger.infra.errors import LedgerError
from recovery_ledger.projections.errors import ProjectionError


def _fail(message: str) -> None:
    sys.stderr.write(f"recovery-ledger: {message}\n")


class _Signals:
    """SIGTERM ends a command as SIGINT does: through ``KeyboardInterrupt`` (which asyncio
    turns into a clean cancellation of a running boot), with its own exit code."""

    received: str | None = None

    def install(self) -> None:
        import signal

        def on_sigterm(signum: int, frame: object) -> None:
            self.received = "SIGTERM"
            signal.raise_signal(signal.SIGINT)

        import threading

        if threading.current_thread() is threading.main_thread():  # else Python refuses
            signal.signal(signal.SIGTERM, on_sigterm)


_signals = _Signals()


def run(argv: Sequence[str] | None = None) -> int:
    # Every file the ledger creates (database, WAL, keys) is private from birth.
    os.umask(0o077)
    _signals.install()
    from recovery_ledger.infra.cli.parser import build_parser, join_dash_values

    try:
        args = build_parser().parse_args(join_dash_values(sys.argv[1:] if argv is None else argv))
        module_name, _, function_name = args.handler.partition(":")
        handler = getattr(import_module(module_name), function_name)
        from recovery_ledger.infra.cli.context import CommandContext

        _collect_from_here()
        context = CommandContext(args)
        try:
            code: int = handler(context)
        finally:  # closed here, not by the collector at exit (``__main__`` skips that pass)
            context.ledger.close()
        return code
    except (LedgerError, DomainError, ProjectionError) as error:
        _fail(str(error))
        return exit_code_for(error)
    except KeyboardInterrupt:
        # Whatever was committed stays committed (each step is one transaction); the next
        # run picks up from there.
        name = _signals.received or "SIGINT"
        _fail(f"interrupted by {name}; everything committed so far is kept")
        return INTERRUPTED[name]
    except BrokenPipeError:
        return 0
    except SystemExit as exit_:
        # argparse's --help/--version; anything else it raises goes through error().
        return int(exit_.code or 0) if isinstance(exit_.code, int) else BAD_INPUT
    except Exception as error:  # the last line of defence: one line, never a traceback
        fault = environment_fault(error)
        if fault is not None:
            _fail(fault)
            return UNREADABLE
        first_line = str(error).splitlines()[0] if str(error) else ""
        _fail(f"unexpected error: {type(error).__name__}: {first_line}")
        if os.environ.get("RECOVERY_LEDGER_DEBUG"):
            raise
        return UNEXPECTED


def _collect_from_here() -> None:
    """The entry point imports with the cyclic collector off (``__main__``); what the imports
    made lives as long as the process, so it is frozen out of every later collection, and
    the collector runs again for the command's own work (a collector serving for days)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
