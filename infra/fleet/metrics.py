"""The collector's metrics in the Prometheus text format: counters kept by this process,
and each installation's lag read from the database when scraped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg.sql import SQL, Identifier

from recovery_ledger.infra.fleet.intake import Intake
from recovery_ledger.infra.fleet.refusals import REASONS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class CollectorMetrics:
    def __init__(self, intake: Intake) -> None:
        datastore = intake.datastore
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series double the output and say nothing here
        self.registry = CollectorRegistry()
        self.uploads = Counter(
            "recovery_ledger_collector_uploads",
            "Uploads answered, by result (stored: new events; duplicate: nothing new)",
            ["result"],
            registry=self.registry,
        )
        self.events_stored = Counter(
            "recovery_ledger_collector_events_stored",
            "Events stored (each exactly once)",
            registry=self.registry,
        )
        self.refusals = Counter(
            "recovery_ledger_collector_refusals",
            "Uploads refused whole, by reason",
            ["reason"],
            registry=self.registry,
        )
        for reason in REASONS:  # every reason is a series from the start, at 0
            self.refusals.labels(reason)
        for result in ("stored", "duplicate"):
            self.uploads.labels(result)
        self.registry.register(_HostLag(datastore))
        self.registry.register(_Grouping(intake))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _HostLag(Collector):
    """Per installation: events its last upload said it held but the collector does not
    have yet, and seconds since its last upload."""

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore
        self.query = SQL(
            "SELECT host_name, GREATEST(reported_count - acked_count, 0) AS events, "
            "EXTRACT(EPOCH FROM now() - last_upload_at) AS seconds "
            "FROM {s}.fleet_installations ORDER BY host_name"
        ).format(s=Identifier(datastore.schema))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        events = GaugeMetricFamily(
            "recovery_ledger_collector_host_lag_events",
            "Events an installation reported holding that the collector has not stored",
            labels=["host"],
        )
        seconds = GaugeMetricFamily(
            "recovery_ledger_collector_host_lag_seconds",
            "Seconds since the installation's last upload (absent before the first)",
            labels=["host"],
        )
        with self.datastore.get_connection() as conn:
            rows = conn.execute(self.query).fetchall()
        for row in rows:
            events.add_metric([row["host_name"]], float(row["events"]))
            if row["seconds"] is not None:
                seconds.add_metric([row["host_name"]], float(row["seconds"]))
        yield events
        yield seconds


class _Grouping(Collector):
    """How uploads group (``group_commit.py``): transactions committed to store them (the
    uploads counted over this is the mean group's size) and uploads waiting for a group."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield CounterMetricFamily(
            "recovery_ledger_collector_transactions",
            "Transactions committed to store uploads (several uploads share one under load)",
            value=self.intake.transactions,
        )
        yield GaugeMetricFamily(
            "recovery_ledger_collector_uploads_waiting",
            "Uploads checked and waiting for the next group to take them",
            value=self.intake.groups.waiting,
        )
