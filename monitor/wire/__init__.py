"""MQTT contract v1: topics and payloads, the only shapes that cross the broker."""
