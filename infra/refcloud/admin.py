"""The reference cloud's admin surface (loopback only; not part of the contract).

See docs/reference-cloud.md for the routes. Every route maps onto a method of
``CloudState``; the Python handle ``ReferenceCloud`` calls the same methods.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from recovery_ledger.infra.crypto.jwk import jwk_thumbprint
from recovery_ledger.infra.refcloud.faults import Fault
from recovery_ledger.infra.refcloud.state import STATUSES, CloudState

_LOOP = re.compile(r"^/admin/loops/(?P<loop_id>[^/]+)(?P<rest>/tokens|/status|/forget)?$")
_FAULT_FIELDS = set(Fault.__dataclass_fields__)


def handle_admin(cloud: CloudState, method: str, path: str, body: bytes) -> tuple[int, Any]:
    try:
        document = json.loads(body) if body else {}
        if not isinstance(document, dict):
            return 400, {"error": "body must be a JSON object"}
        return _route(cloud, method, path, document)
    except (ValueError, KeyError, TypeError) as error:
        return 400, {"error": str(error)}


def _route(cloud: CloudState, method: str, path: str, doc: dict[str, Any]) -> tuple[int, Any]:
    if path == "/admin/loops" and method == "POST":
        cloud.add_loop(doc["loop_id"], doc.get("status", "active"), doc.get("revivable", True))
        return 201, {"loop_id": doc["loop_id"]}
    if path == "/admin/keys" and method == "POST":
        thumbprint = doc.get("thumbprint") or jwk_thumbprint(doc["jwk"])
        with cloud.lock:
            cloud.keys.add(thumbprint)
        return 201, {"thumbprint": thumbprint}
    if path == "/admin/faults" and method == "POST":
        unknown = set(doc) - _FAULT_FIELDS
        if unknown:
            return 400, {"error": f"unknown fault fields: {sorted(unknown)}"}
        cloud.faults.add(Fault(**doc))
        return 201, {"faults": cloud.faults.describe()}
    if path == "/admin/faults" and method == "DELETE":
        cloud.faults.clear()
        return 200, {"faults": []}
    if path == "/admin/stats" and method == "GET":
        with cloud.lock:
            return 200, {loop_id: cloud.stats_view(loop_id) for loop_id in cloud.stats}
    match = _LOOP.match(path)
    if match is None:
        return 404, {"error": "no such admin route"}
    return _loop_route(cloud, method, unquote(match["loop_id"]), match["rest"] or "", doc)


def _loop_route(
    cloud: CloudState, method: str, loop_id: str, rest: str, doc: dict[str, Any]
) -> tuple[int, Any]:
    loop = cloud.loop(loop_id)
    if loop is None:
        return 404, {"error": "no such loop"}
    if rest == "/tokens" and method == "POST":
        issued = cloud.issue_token(loop_id, int(doc.get("ttl_s", 3600)))
        return 201, {"token": issued.token, "jti": issued.jti, "expires_at": issued.expires_at}
    if rest == "/status" and method == "POST":
        if doc.get("status") not in STATUSES:
            return 400, {"error": f"status must be one of {STATUSES}"}
        loop.status = doc["status"]
        return 200, {"loop_id": loop_id, "status": loop.status}
    if rest == "/forget" and method == "POST":
        with cloud.lock:
            del cloud.loops[loop_id]
        return 200, {"loop_id": loop_id, "known": False}
    if rest == "" and method == "DELETE":
        loop.deleted = True
        return 200, {"loop_id": loop_id, "deleted": True}
    if rest == "" and method == "GET":
        return 200, {
            "loop_id": loop_id,
            "status": loop.status,
            "deleted": loop.deleted,
            "stats": cloud.stats_view(loop_id),
        }
    return 405, {"error": "method not allowed"}
