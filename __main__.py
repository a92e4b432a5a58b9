"""``python -m recovery_ledger`` and the ``recovery-ledger`` console script: the one entry point."""

from recovery_ledger.infra.cli.main import main

if __name__ == "__main__":
    main()
