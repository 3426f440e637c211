"""The service's own numbers, for /metrics (Prometheus) and /healthz."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitor.domain.clinic import Report
from monitor.domain.events import AlarmTransition, ArtefactRecorded


class Metrics:
    """One registry per service instance (never the global one), so tests can run several."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "infusion_messages", "Inbound MQTT messages by kind and outcome", ["kind", "outcome"],
            registry=r,
        )  # fmt: skip
        self.artefacts = Counter(
            "infusion_artefacts", "Values set aside as artefacts", ["vital"], registry=r
        )
        self.alarm_transitions = Counter(
            "infusion_alarm_transitions", "Alarm transitions", ["kind", "state"], registry=r
        )
        self.published = Counter("infusion_published", "MQTT messages published", registry=r)
        self.publish_dropped = Counter(
            "infusion_publish_dropped", "Outbound messages dropped: outbox full", registry=r
        )
        self.inbound_dropped = Counter(
            "infusion_inbound_dropped", "Inbound messages dropped: intake queue full", registry=r
        )
        self.reconnects = Counter("infusion_mqtt_reconnects", "Broker (re)connections", registry=r)
        self.connected = Gauge("infusion_mqtt_connected", "1 while connected", registry=r)
        self.outbox_depth = Gauge("infusion_outbox_depth", "Outbound queue length", registry=r)
        self.store_depth = Gauge("infusion_store_queue_depth", "Rows waiting", registry=r)
        self.task_restarts = Counter(
            "infusion_task_restarts", "A service task restarted after an error", ["task"],
            registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "infusion_processing_seconds",
            "Time from receipt to events published to the outbox",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
            registry=r,
        )

    def count_reports(self, reports: Sequence[Report]) -> None:
        """Alarm transitions and artefacts among what the core reported."""
        for report in reports:
            for event in report.events:
                if isinstance(event, AlarmTransition):
                    self.alarm_transitions.labels(event.kind, event.state).inc()
                elif isinstance(event, ArtefactRecorded):
                    self.artefacts.labels(event.vital).inc()

    # The broker link's meter (monitor.mqtt.LinkMeter) --------------------------------------

    def link_connected(self, connected: bool) -> None:
        self.connected.set(1 if connected else 0)
        if connected:
            self.reconnects.inc()

    def link_published(self, count: int) -> None:
        self.published.inc(count)

    def link_publish_dropped(self) -> None:
        self.publish_dropped.inc()

    def link_inbound_dropped(self) -> None:
        self.inbound_dropped.inc()

    def link_outbox(self, depth: int) -> None:
        self.outbox_depth.set(depth)

    def count(self, counter: Counter, *labels: str) -> int:
        """Current value of a counter (for /healthz and tests)."""
        sample = counter.labels(*labels) if labels else counter
        return int(sample._value.get())
