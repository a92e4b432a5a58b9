"""Boot recovery: the boot service, its ports and wiring, the boot lock, liveness, host identity."""
