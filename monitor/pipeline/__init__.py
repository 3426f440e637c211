"""The pure shell around the core: from an inbound message to what the service publishes and
records, with no I/O (the async adapters in `monitor.app` do that).

- `router`: topic and payload to a domain input, or a refusal saying why;
- `projector`: the core's reports to outbound MQTT messages, coalescing chair states per tick;
- `scribe`: the core's reports to entries of the record (journal, readings, alarms, events,
  sessions, snapshots);
- `intake`: the three around the `Clinic`, one call per message and per tick.
"""
