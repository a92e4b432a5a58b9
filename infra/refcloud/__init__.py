"""The reference cloud used by the tests and the demo (CONTRACT section 2, over real HTTP)."""

from infra.refcloud.server import ReferenceCloud

__all__ = ["ReferenceCloud"]
