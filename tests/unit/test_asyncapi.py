"""docs/asyncapi.yaml against the code of contract v1 (monitor.wire), so the two cannot drift.

Two layers. The text checks need nothing but the file: every topic the code builds, every alarm
kind and every payload field name appears in it. The structural checks read the YAML (PyYAML
comes with amqtt) and hold it to the code: the channels are exactly the contract's topics with
the right QoS and retain flags, each schema has exactly its model's fields and required fields,
every enum equals its domain enum, and every example is accepted by the code; an outbound
example is byte-for-byte what the service would publish for it.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, NoneType
from typing import Any, Literal, Union, get_args, get_origin

import pytest
import yaml
from pydantic import AliasChoices, BaseModel

from monitor.domain.alarms import AlarmClass, AlarmKind, AlarmPriority, AlarmState, Trigger
from monitor.domain.baseline import BaselineSource
from monitor.domain.limits import Limits
from monitor.domain.recovery import RecoveryStatus
from monitor.domain.session import Phase
from monitor.domain.vitals import Vital
from monitor.wire import outbound, payloads
from monitor.wire.payloads import MAX_PAYLOAD_BYTES, validate
from monitor.wire.topics import (
    CHAIR_INBOUND,
    PAGER_INBOUND,
    Inbound,
    Outbound,
    chair_topic,
    coverage_topic,
    pager_topic,
    parse_inbound,
    status_topic,
    subscriptions,
)

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
TEXT = DOC_PATH.read_text(encoding="utf-8")
DOC: dict[str, Any] = yaml.safe_load(TEXT)

ROOT = "clinic"
EXAMPLE_NAMES = {"site": "north", "chair": "c03", "pager": "nurse-a"}


def _contract_topics() -> dict[str, str]:
    """Every topic of contract v1 as an address template, from the code's own builders."""
    inbound = {
        f.replace("/chair/+/", "/chair/{chair}/").replace("/pager/+/", "/pager/{pager}/"): "in"
        for f in subscriptions(ROOT, "{site}")
    }
    outbound_ = {chair_topic(ROOT, "{site}", "{chair}", kind): "out" for kind in Outbound}
    outbound_[pager_topic(ROOT, "{site}", "{pager}")] = "out"
    outbound_[status_topic(ROOT, "{site}")] = "out"
    outbound_[coverage_topic(ROOT, "{site}")] = "out"
    return {**inbound, **outbound_}


TOPICS = _contract_topics()
RETAINED = {
    "clinic/{site}/chair/{chair}/device",
    "clinic/{site}/chair/{chair}/state",
    "clinic/{site}/monitor/status",
    "clinic/{site}/monitor/coverage",
}
OUT_MODELS: dict[str, type[BaseModel]] = {
    chair_topic(ROOT, "{site}", "{chair}", Outbound.STATE): outbound.ChairStateOut,
    chair_topic(ROOT, "{site}", "{chair}", Outbound.ALARM): outbound.AlarmOut,
    chair_topic(ROOT, "{site}", "{chair}", Outbound.RECOVERY): outbound.RecoveryOut,
    pager_topic(ROOT, "{site}", "{pager}"): outbound.PageOut,
    status_topic(ROOT, "{site}"): outbound.ServiceStatusOut,
    coverage_topic(ROOT, "{site}"): outbound.CoverageOut,
}
# Which components/schemas entry documents which model.
SCHEMA_OF: dict[type[BaseModel], str] = {
    payloads.ReadingIn: "Reading",
    payloads.NibpIn: "Nibp",
    payloads.DeviceIn: "DeviceStatus",
    payloads.InfusionIn: "InfusionEvent",
    payloads.AdmitIn: "Admit",
    payloads.BaselineIn: "EnteredBaseline",
    payloads.DischargeIn: "Discharge",
    payloads.AcknowledgeIn: "Acknowledge",
    payloads.PauseAudioIn: "PauseAudio",
    payloads.NoteIn: "Note",
    payloads.SetLimitsIn: "SetLimits",
    payloads.PagerReplyIn: "PagerReply",
    payloads.HandOverIn: "HandOver",
    outbound.CoverageOut: "Coverage",
    outbound.PagerOut: "Pager",
    outbound.AlarmOut: "Alarm",
    outbound.RecoveryOut: "Recovery",
    outbound.ChairStateOut: "ChairState",
    outbound.VitalOut: "VitalValue",
    outbound.DeviceOut: "ChairDevice",
    outbound.BaselineOut: "ChairBaseline",
    outbound.InfusionOut: "ChairInfusion",
    outbound.RecoveryStateOut: "ChairRecovery",
    outbound.AudioOut: "ChairAudio",
    outbound.ServiceStatusOut: "ServiceStatus",
    outbound.RecordStatusOut: "RecordStatus",
    outbound.RefusedChairsOut: "RefusedChairs",
    outbound.PagingHealthOut: "PagingHealth",
    outbound.PagingOut: "Paging",
    outbound.PageViewOut: "PageView",
    outbound.PageOut: "Page",
}
INBOUND_MODELS = [m for m in SCHEMA_OF if m.__module__ == payloads.__name__]
OUTBOUND_MODELS = [m for m in SCHEMA_OF if m.__module__ == outbound.__name__]


def _models_of(module: ModuleType) -> set[type[BaseModel]]:
    return {
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, BaseModel) and obj.__module__ == module.__name__ and obj.model_fields
    }


def _wire_names(model: type[BaseModel]) -> set[str]:
    """The JSON keys a model reads or writes: aliases where set, and every alias choice."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(field.alias or name)
        if isinstance(field.validation_alias, AliasChoices):
            names.update(c for c in field.validation_alias.choices if isinstance(c, str))
    return names


def _model_fields() -> list[tuple[str, str]]:
    return sorted(
        {(model.__name__, name) for model in SCHEMA_OF for name in _wire_names(model)},
    )


def _resolve(node: Any) -> Any:
    """Follow a local $ref (#/a/b/c) to the node it names; raise KeyError if it names nothing."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references are used: {ref}"
        target: Any = DOC
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _branches(node: Any) -> Iterator[dict[str, Any]]:
    """A schema and every schema it is made of (through $ref, allOf, oneOf, anyOf)."""
    node = _resolve(node)
    yield node
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in node.get(key, []):
            yield from _branches(sub)


def _enum_values(node: Any) -> set[Any]:
    values: set[Any] = set()
    for branch in _branches(node):
        values.update(v for v in branch.get("enum", []) if v is not None)
        if "const" in branch:
            values.add(branch["const"])
    return values


def _allows_null(node: Any) -> bool:
    for branch in _branches(node):
        types = branch.get("type")
        if types == "null" or (isinstance(types, list) and "null" in types):
            return True
    return False


def _literal_values(annotation: Any) -> set[Any] | None:
    if get_origin(annotation) is Literal:
        return set(get_args(annotation))
    for arg in get_args(annotation):
        found = _literal_values(arg)
        if found is not None:
            return found
    return None


def _optional(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, type(int | None)) and NoneType in get_args(annotation)


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = DOC["components"]["schemas"][name]
    return schema


def _property(model: type[BaseModel], field_name: str) -> Any:
    field = model.model_fields[field_name]
    return _schema(SCHEMA_OF[model])["properties"][field.alias or field_name]


def _channels() -> dict[str, dict[str, Any]]:
    return {channel["address"]: channel for channel in DOC["channels"].values()}


def _examples(address: str) -> list[tuple[str, Any]]:
    channel = _channels()[address]
    return [
        (example["name"], example["payload"])
        for message in channel["messages"].values()
        for example in _resolve(message).get("examples", [])
    ]


def _raw(payload: Any) -> bytes:
    """An example payload as MQTT bytes: a string example is the bare text, the rest JSON."""
    return payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()


# Text: the document names everything the code knows -----------------------------------------


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_every_contract_topic_is_a_channel_address(topic: str) -> None:
    assert f"address: {topic}\n" in TEXT


@pytest.mark.parametrize("kind", [k.value for k in AlarmKind])
def test_every_alarm_kind_is_in_the_document(kind: str) -> None:
    assert re.search(rf"\b{kind}\b", TEXT), f"alarm kind {kind} is not documented"


@pytest.mark.parametrize(("model", "name"), _model_fields())
def test_every_payload_field_is_in_the_document(model: str, name: str) -> None:
    assert re.search(rf"^\s+{re.escape(name)}:", TEXT, re.MULTILINE), (
        f"{model} field {name!r} is not a property in the document"
    )


def test_the_alarm_class_goes_by_its_wire_name() -> None:
    assert "alarm_class" not in TEXT
    assert re.search(r"^\s+class: \{\$ref: '#/components/schemas/AlarmClass'\}", TEXT, re.M)


def test_info_states_the_ground_rules() -> None:
    info = DOC["info"]
    assert DOC["asyncapi"] == "3.0.0"
    assert info["title"] == "infusion-monitor MQTT contract"
    assert info["version"] == "1.4.0"
    text = info["description"]
    assert MAX_PAYLOAD_BYTES == 64 * 1024
    for needed in (
        "`clinic`",
        "configurable",
        "[A-Za-z0-9_-]{1,32}",
        "RFC 3339",
        "epoch seconds",
        "MQTT 3.1.1",
        "QoS 1",
        "Retained topics",
        "unknown extra fields are ignored",
        "64 KiB",
    ):
        assert needed in text, f"info.description does not mention {needed!r}"


def test_local_server_is_mosquitto_on_localhost() -> None:
    server = DOC["servers"]["local"]
    assert (server["host"], server["protocol"], server["protocolVersion"]) == (
        "127.0.0.1:1883",
        "mqtt",
        "3.1.1",
    )


# Structure: channels, operations, references --------------------------------------------------


def test_channels_are_exactly_the_contract_topics() -> None:
    assert sorted(_channels()) == sorted(TOPICS)
    assert len(_channels()) == len(DOC["channels"]), "two channels share an address"


@pytest.mark.parametrize("address", sorted(TOPICS))
def test_channel_parameters_are_the_address_placeholders(address: str) -> None:
    channel = _channels()[address]
    placeholders = set(re.findall(r"\{(\w+)\}", address))
    assert set(channel["parameters"]) == placeholders
    for name, parameter in channel["parameters"].items():
        described = _resolve(parameter)
        assert "[A-Za-z0-9_-]{1,32}" in described["description"]
        assert described["examples"] == [EXAMPLE_NAMES[name]]


@pytest.mark.parametrize("address", sorted(TOPICS))
def test_each_channel_has_one_operation_with_direction_qos_and_retain(address: str) -> None:
    key = next(k for k, c in DOC["channels"].items() if c["address"] == address)
    operations = [
        op for op in DOC["operations"].values() if op["channel"] == {"$ref": f"#/channels/{key}"}
    ]
    assert len(operations) == 1
    (operation,) = operations
    assert operation["action"] == ("receive" if TOPICS[address] == "in" else "send")
    binding = operation["bindings"]["mqtt"]
    assert binding["qos"] == 1
    assert binding["retain"] is (address in RETAINED)
    channel_messages = {f"#/channels/{key}/messages/{m}" for m in DOC["channels"][key]["messages"]}
    assert {m["$ref"] for m in operation["messages"]} == channel_messages


def test_every_reference_resolves() -> None:
    refs = sorted(set(_refs(DOC)))
    assert refs
    for ref in refs:
        try:
            _resolve({"$ref": ref})
        except KeyError:
            pytest.fail(f"{ref} names nothing in the document")


def test_every_schema_is_used() -> None:
    used = {ref.rsplit("/", 1)[1] for ref in _refs(DOC) if ref.startswith("#/components/schemas/")}
    assert set(DOC["components"]["schemas"]) == used


# Schemas against the pydantic models ----------------------------------------------------------


def test_every_wire_model_has_a_schema() -> None:
    assert _models_of(payloads) | _models_of(outbound) == set(SCHEMA_OF)


@pytest.mark.parametrize("model", list(SCHEMA_OF), ids=lambda m: m.__name__)
def test_schema_properties_are_the_model_fields(model: type[BaseModel]) -> None:
    assert set(_schema(SCHEMA_OF[model])["properties"]) == _wire_names(model)


@pytest.mark.parametrize("model", INBOUND_MODELS, ids=lambda m: m.__name__)
def test_inbound_required_fields_match(model: type[BaseModel]) -> None:
    required = {f.alias or n for n, f in model.model_fields.items() if f.is_required()}
    assert set(_schema(SCHEMA_OF[model]).get("required", [])) == required


@pytest.mark.parametrize("model", OUTBOUND_MODELS, ids=lambda m: m.__name__)
def test_outbound_messages_always_carry_every_field(model: type[BaseModel]) -> None:
    assert set(_schema(SCHEMA_OF[model])["required"]) == _wire_names(model)


@pytest.mark.parametrize(
    ("model", "field"),
    [(m, n) for m in SCHEMA_OF for n in m.model_fields],
    ids=lambda x: x if isinstance(x, str) else x.__name__,
)
def test_nullability_and_enums_match(model: type[BaseModel], field: str) -> None:
    annotation = model.model_fields[field].annotation
    prop = _property(model, field)
    assert _allows_null(prop) is _optional(annotation), "null allowed in one, not the other"
    literal = _literal_values(annotation)
    if literal is not None:
        assert _enum_values(prop) == literal


@pytest.mark.parametrize(
    ("schema", "values"),
    [
        ("AlarmKind", {k.value for k in AlarmKind}),
        ("AlarmClass", {c.value for c in AlarmClass}),
        ("AlarmPriority", {p.value for p in AlarmPriority}),
        ("AlarmState", {s.value for s in AlarmState}),
        ("Phase", {p.value for p in Phase}),
        ("RecoveryStatus", {s.value for s in RecoveryStatus}),
        ("VitalName", {v.value for v in Vital}),
        ("LimitName", set(Limits().as_dict())),
    ],
)
def test_named_enums_equal_the_domain_enums(schema: str, values: set[str]) -> None:
    assert set(_schema(schema)["enum"]) == values


def test_alarm_kind_and_reason_enums_cover_every_transition() -> None:
    alarm = _schema("Alarm")["properties"]
    assert _resolve(alarm["kind"]) is _schema("AlarmKind")
    assert set(alarm["reason"]["enum"]) == {"raised", None} | {t.value for t in Trigger}
    source = _schema("ChairBaseline")["properties"]["source"]
    assert set(source["enum"]) == {s.value for s in BaselineSource}


@pytest.mark.parametrize(
    ("union", "members"),
    [
        ("SessionCommand", ["Admit", "Discharge"]),
        ("ChairCommand", ["Acknowledge", "PauseAudio", "Note", "SetLimits"]),
    ],
)
def test_commands_are_one_of_their_variants(union: str, members: list[str]) -> None:
    schema = _schema(union)
    assert schema["discriminator"] == "command"
    assert [ref["$ref"] for ref in schema["oneOf"]] == [
        f"#/components/schemas/{m}" for m in members
    ]


# Examples against the code --------------------------------------------------------------------


@pytest.mark.parametrize("address", sorted(TOPICS))
def test_every_channel_has_examples(address: str) -> None:
    assert _examples(address)


@pytest.mark.parametrize("address", sorted(a for a, d in TOPICS.items() if d == "in"))
def test_inbound_examples_are_accepted_by_the_code(address: str) -> None:
    kind = parse_inbound(address.format(**EXAMPLE_NAMES), root=ROOT).kind
    for name, payload in _examples(address):
        model = validate(kind, _raw(payload))
        if isinstance(payload, dict):
            unknown = set(payload) - _wire_names(type(model))
            assert not unknown, f"example {name} has fields the code ignores: {unknown}"


def test_inbound_examples_cover_every_inbound_kind() -> None:
    kinds = {
        parse_inbound(address.format(**EXAMPLE_NAMES), root=ROOT).kind
        for address, direction in TOPICS.items()
        if direction == "in"
    }
    assert kinds == set(Inbound)
    assert set(CHAIR_INBOUND) | set(PAGER_INBOUND) == set(Inbound)


def test_design_reading_example_is_documented_verbatim() -> None:
    design = {
        "ts": "2026-11-21T10:15:02.000Z",
        "seq": 1234,
        "hr": 78,
        "spo2": 97,
        "nibp": {"sys": 134, "dia": 86, "map": 102},
        "technical": ["spo2_motion"],
    }
    assert design in [p for _, p in _examples("clinic/{site}/chair/{chair}/vitals")]


@pytest.mark.parametrize("address", sorted(OUT_MODELS))
def test_outbound_examples_are_exactly_what_the_service_publishes(address: str) -> None:
    model = OUT_MODELS[address]
    for name, payload in _examples(address):
        parsed = model.model_validate(payload)
        published = json.loads(parsed.to_json())
        assert published == payload, f"example {name} differs from what would be published"


def test_alarm_example_carries_the_design_fields() -> None:
    design = {
        "site": "north",
        "chair": "c03",
        "patient": "P-0042",
        "kind": "sbp_high",
        "class": "physiological",
        "priority": "high",
        "state": "active",
        "value": 186,
        "limit": 180,
        "text": "SBP 186 > 180 mmHg",
    }
    examples = [p for _, p in _examples("clinic/{site}/chair/{chair}/alarm")]
    assert any(design.items() <= example.items() for example in examples)
