"""The read side's failures, under one root: ``ProjectionError``.

The command line maps them to exit codes in ``infra/cli/exit_codes.py`` and nowhere else."""

from __future__ import annotations


class ProjectionError(Exception):
    """Base class of every failure the projections raise."""


class FilterError(ProjectionError):
    """A filter that cannot be resolved (too short or ambiguous): bad usage."""
