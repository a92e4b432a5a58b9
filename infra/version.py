"""The application version recorded in every boot (kept equal to pyproject's, tested)."""

__version__ = "0.2.0"
