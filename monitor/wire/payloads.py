"""Payloads of MQTT contract v1 as pydantic models, and their translation to domain inputs.

Inbound models are strict about types (a heart rate of "fast" or `true` is malformed) and ignore
unknown extra fields, so newer devices keep working. Values that are well-formed but impossible
(HR -5, SpO2 0) pass here on purpose: the domain records them as artefacts with a reason.
`decode` is the one entry point: raw bytes and the topic kind in, a domain input out, or
`PayloadError` with a reason fit for a log line.

Every value is bounded to what the record holds, so nothing accepted here fails to be kept:
numbers are finite, a sequence number fits a signed 64-bit integer, and free text (a patient's
label, a nurse's name, a device, a drug, an alarm or page id, a technical condition) is short
printable text. Printable means no control, format (bidi overrides, zero-width characters),
private-use or surrogate character and no line or paragraph separator: a label shows as what
it is, never as another.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from monitor.domain.clinic import HandOver, PagerAnswer, SiteInput
from monitor.domain.commands import (
    Acknowledge,
    AddNote,
    Admit,
    DeviceReport,
    Discharge,
    InfusionEvent,
    Input,
    PauseAudio,
    SetLimits,
)
from monitor.domain.limits import Limit
from monitor.domain.session import Step
from monitor.domain.vitals import Reading, Vital
from monitor.wire.topics import Inbound

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_SEQ = 2**63 - 1  # the record keeps a sequence number as a signed 64-bit integer
MAX_TEXT_CHARS = 64  # a label, a name, an id, a technical condition
MAX_NOTE_CHARS = 1000  # a note on a session (v1.4)
# Unicode categories a label may not hold: control, format (bidi overrides, zero-width), private
# use, surrogate, line and paragraph separators.
UNPRINTABLE = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})
# Epoch seconds beyond this are almost certainly milliseconds (year 2200).
_MAX_EPOCH_S = 7_258_118_400.0
_DATE_TIME = r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?"
_RFC3339 = re.compile(_DATE_TIME + r"([Zz]|[+-]\d{2}:\d{2})")
_RFC3339_NO_ZONE = re.compile(_DATE_TIME)


class PayloadError(ValueError):
    """A payload that is not a valid contract v1 message; the text says why."""


def parse_event_time(value: object) -> float:
    """RFC 3339 with a zone, or epoch seconds, to epoch seconds."""
    if isinstance(value, bool):
        raise ValueError("ts must be an RFC 3339 time with a zone or epoch seconds, not a boolean")
    if isinstance(value, int | float):
        seconds = float(value) if -_MAX_EPOCH_S <= value <= _MAX_EPOCH_S * 1e6 else math.inf
        if not math.isfinite(seconds) or not 0 <= seconds <= _MAX_EPOCH_S:
            raise ValueError(f"ts {value} is not epoch seconds (milliseconds? divide by 1000)")
        return seconds
    if isinstance(value, str):
        if _RFC3339_NO_ZONE.fullmatch(value):
            raise ValueError(f"ts {value!r} has no zone: add Z or +hh:mm")
        if not _RFC3339.fullmatch(value):
            raise ValueError(f"ts {value!r} is not RFC 3339 (2026-11-21T10:15:02.000Z)")
        try:
            return datetime.fromisoformat(value.upper()).timestamp()
        except ValueError:
            raise ValueError(f"ts {value!r} is not RFC 3339: no such date and time") from None
    raise ValueError("ts must be an RFC 3339 time with a zone or epoch seconds")


def format_event_time(ts: float) -> str:
    """Epoch seconds as RFC 3339 UTC with milliseconds: 2026-11-21T10:15:02.000Z."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_printable(value: str) -> str:
    """Return `value` if it is printable text that is not blank; raise ValueError naming the
    first character that is not."""
    for char in value:
        category = unicodedata.category(char)
        if category in UNPRINTABLE:
            name = unicodedata.name(char, "unnamed")
            raise ValueError(
                f"holds U+{ord(char):04X} {name} ({category}): only printable text is allowed"
            )
    if not value.strip():
        raise ValueError("is blank")
    return value


def _check_condition(value: str) -> str:
    if "," in value:
        raise ValueError("holds a comma: a technical condition is one name")
    return check_printable(value)


EventTime = Annotated[float, BeforeValidator(parse_event_time)]
OutTime = Annotated[float, PlainSerializer(format_event_time, return_type=str)]
Number = Annotated[float, Field(allow_inf_nan=False, strict=True)]
Text = Annotated[
    str, Field(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(check_printable)
]
Label = Text  # a patient's label, a nurse's name, a device, a drug
Condition = Annotated[
    str, Field(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(_check_condition)
]
NoteText = Annotated[
    str, Field(min_length=1, max_length=MAX_NOTE_CHARS), AfterValidator(check_printable)
]
LimitName = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")]
# Limit values by name: an admission's overrides, a change during the session. The names and
# ranges are the domain's (`Limits.with_overrides`), which refuses an unknown one by name.
LimitValues = Annotated[dict[LimitName, Number], Field(max_length=len(Limit))]


class InboundModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class NibpIn(InboundModel):
    sys: Number | None = None
    dia: Number | None = None
    map: Number | None = None


class ReadingIn(InboundModel):
    ts: EventTime
    seq: Annotated[int, Field(ge=0, le=MAX_SEQ)] | None = None
    hr: Number | None = None
    pr: Number | None = None  # v1.1: the pulse oximeter's own pulse rate
    spo2: Number | None = None
    nibp: NibpIn | None = None
    technical: Annotated[list[Condition], Field(max_length=16)] = []

    @model_validator(mode="after")
    def _has_content(self) -> ReadingIn:
        cuff = self.nibp and any(
            v is not None for v in (self.nibp.sys, self.nibp.dia, self.nibp.map)
        )
        vitals = (self.hr, self.pr, self.spo2)
        if all(v is None for v in vitals) and not cuff and not self.technical:
            raise ValueError("a reading needs at least one of hr, pr, spo2, nibp, technical")
        return self

    def to_domain(self) -> Reading:
        nibp = self.nibp or NibpIn()
        return Reading(
            ts=self.ts,
            seq=self.seq,
            hr=self.hr,
            spo2=self.spo2,
            sbp=nibp.sys,
            dbp=nibp.dia,
            map=nibp.map,
            technical=frozenset(self.technical),
            pr=self.pr,
        )


class DeviceIn(InboundModel):
    ts: EventTime | None = None
    state: Literal["online", "offline"]
    device: Label | None = None

    def to_domain(self) -> DeviceReport:
        return DeviceReport(ts=self.ts, online=self.state == "online", device=self.device)


class InfusionIn(InboundModel):
    ts: EventTime
    event: Literal["start", "pause", "resume", "stop"]
    drug: Label | None = None
    dose_mg_per_kg: Annotated[Number, Field(gt=0, le=10)] | None = None
    planned_minutes: Annotated[Number, Field(gt=0, le=600)] | None = None
    by: Label | None = None  # v1.3: who, when a station sends it (a pump sends none)

    def to_domain(self) -> InfusionEvent:
        return InfusionEvent(
            ts=self.ts,
            step=Step(self.event),
            drug=self.drug,
            dose_mg_per_kg=self.dose_mg_per_kg,
            planned_minutes=self.planned_minutes,
            by=self.by,
        )


class BaselineIn(InboundModel):
    sbp: Number | None = Field(default=None, validation_alias=AliasChoices("sbp", "sys"))
    dbp: Number | None = Field(default=None, validation_alias=AliasChoices("dbp", "dia"))
    hr: Number | None = None
    spo2: Number | None = None

    def to_domain(self) -> dict[Vital, float]:
        values = {
            Vital.SBP: self.sbp,
            Vital.DBP: self.dbp,
            Vital.HR: self.hr,
            Vital.SPO2: self.spo2,
        }
        return {vital: value for vital, value in values.items() if value is not None}


class AdmitIn(InboundModel):
    ts: EventTime
    command: Literal["admit"]
    patient: Label
    weight_kg: Annotated[Number, Field(gt=0, le=400)] | None = None
    baseline: BaselineIn | None = None
    limits: LimitValues | None = None
    by: Label | None = None  # v1.1

    def to_domain(self) -> Admit:
        return Admit(
            ts=self.ts,
            patient=self.patient,
            weight_kg=self.weight_kg,
            baseline=self.baseline.to_domain() if self.baseline else {},
            limits=dict(self.limits or {}),
            by=self.by,
        )


class DischargeIn(InboundModel):
    ts: EventTime
    command: Literal["discharge"]
    by: Label | None = None  # v1.1: who discharged
    over_alarms: bool = False  # v1.1: discharge over unacknowledged high-priority alarms

    def to_domain(self) -> Discharge:
        return Discharge(ts=self.ts, by=self.by, over_alarms=self.over_alarms)


class AcknowledgeIn(InboundModel):
    ts: EventTime
    command: Literal["acknowledge"]
    alarm: Text
    by: Label

    def to_domain(self) -> Acknowledge:
        return Acknowledge(ts=self.ts, alarm=self.alarm, by=self.by)


class PauseAudioIn(InboundModel):
    ts: EventTime
    command: Literal["pause_audio"]
    seconds: Number
    by: Label

    def to_domain(self) -> PauseAudio:
        return PauseAudio(ts=self.ts, seconds=self.seconds, by=self.by)


class NoteIn(InboundModel):
    """v1.4: a note on the chair's open session."""

    ts: EventTime
    command: Literal["note"]
    text: NoteText
    by: Label

    def to_domain(self) -> AddNote:
        return AddNote(ts=self.ts, text=self.text, by=self.by)


class SetLimitsIn(InboundModel):
    """v1.4: alarm limits changed during the chair's open session."""

    ts: EventTime
    command: Literal["set_limits"]
    limits: Annotated[LimitValues, Field(min_length=1)]
    by: Label

    def to_domain(self) -> SetLimits:
        return SetLimits(ts=self.ts, limits=dict(self.limits), by=self.by)


class PagerReplyIn(InboundModel):
    ts: EventTime
    page: Text
    reply: Literal["accept", "decline"]

    def to_answer(self, pager: str) -> PagerAnswer:
        return PagerAnswer(self.ts, pager, self.page, self.reply == "accept")


class HandOverIn(InboundModel):
    """v1.3: the holder of the topic's pager hands her chairs (and roles) to pager `to`."""

    ts: EventTime
    to: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    by: Label

    def to_hand_over(self, pager: str) -> HandOver:
        return HandOver(self.ts, pager, self.to, self.by)


SessionCommandIn = Annotated[AdmitIn | DischargeIn, Field(discriminator="command")]
ChairCommandIn = Annotated[
    AcknowledgeIn | PauseAudioIn | NoteIn | SetLimitsIn, Field(discriminator="command")
]

_ADAPTERS: dict[Inbound, TypeAdapter[Any]] = {
    Inbound.VITALS: TypeAdapter(ReadingIn),
    Inbound.DEVICE: TypeAdapter(DeviceIn),
    Inbound.INFUSION: TypeAdapter(InfusionIn),
    Inbound.SESSION: TypeAdapter(SessionCommandIn),
    Inbound.COMMAND: TypeAdapter(ChairCommandIn),
    Inbound.PAGER_REPLY: TypeAdapter(PagerReplyIn),
    Inbound.HANDOVER: TypeAdapter(HandOverIn),
}
_BARE_DEVICE_STATES = {b"online", b"offline", b'"online"', b'"offline"'}


def validate(kind: Inbound, payload: bytes) -> BaseModel:
    """Validate `payload` as the contract message for `kind`; raise PayloadError with the reason."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    if kind is Inbound.DEVICE and payload.strip() in _BARE_DEVICE_STATES:
        # Many devices set a plain-text Last Will; take it rather than lose an offline report.
        payload = json.dumps({"state": payload.strip().strip(b'"').decode()}).encode()
    try:
        model: BaseModel = _ADAPTERS[kind].validate_json(payload)
    except ValidationError as exc:
        raise PayloadError(_explain(exc)) from None
    return model


def decode(kind: Inbound, payload: bytes) -> Input:
    """A chair message's payload as a domain input; raise PayloadError with the reason."""
    model = validate(kind, payload)
    to_domain = getattr(model, "to_domain", None)
    if to_domain is None:
        raise PayloadError(f"{kind.value} messages do not go to a chair")
    result: Input = to_domain()
    return result


def decode_reply(pager: str, payload: bytes) -> PagerAnswer:
    """A pager's reply as the site's input; raise PayloadError with the reason."""
    model = validate(Inbound.PAGER_REPLY, payload)
    assert isinstance(model, PagerReplyIn)  # what the adapter for PAGER_REPLY validates to
    return model.to_answer(pager)


def decode_pager(kind: Inbound, pager: str, payload: bytes) -> SiteInput:
    """A message on a pager's topic (a reply, a hand-over) as the site's input."""
    if kind is Inbound.HANDOVER:
        model = validate(Inbound.HANDOVER, payload)
        assert isinstance(model, HandOverIn)
        return model.to_hand_over(pager)
    return decode_reply(pager, payload)


def _explain(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:3]:
        where = ".".join(_shown(str(p)) for p in error["loc"]) or "payload"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _shown(name: str) -> str:
    """A field name or key as a reason shows it: a long one cut (a key is the sender's text)."""
    return name if len(name) <= 40 else f"{name[:40]}..."
