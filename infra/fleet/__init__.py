"""The fleet: desktops ship their ledgers to a collector that verifies before it stores
(docs/contract.md section 8, docs/fleet.md)."""
