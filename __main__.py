"""``python -m recovery_ledger`` and the ``recovery-ledger`` console script: the one entry point."""

import gc
import sys


def main() -> None:
    # The cyclic collector would walk the tens of thousands of objects the imports create
    # (classes, functions, dataclasses' generated code) over and over: ~10% of a cold start's
    # CPU (docs/performance.md). It is off while importing; ``run`` freezes what was imported
    # and turns it back on before any command does work.
    gc.disable()
    from recovery_ledger.infra.cli.main import run

    code = run()
    # The command is done: every transaction committed, the ledger closed, the output
    # written. The interpreter's last full collection would walk everything the command
    # made (~40 ms after a 1,000-loop boot) to finalize nothing that matters, so it has
    # nothing to walk.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    main()
