"""recovery-ledger: which agent loops to reattach, revive or finalize at boot, recorded.

The layers are subpackages: ``recovery_ledger.domain`` (pure), ``recovery_ledger.projections``
(read models) and ``recovery_ledger.infra`` (everything with I/O). Nothing is imported here,
so ``import recovery_ledger.domain.loop`` does not pay for the rest.
"""
