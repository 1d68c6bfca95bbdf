"""The wire protocol: MQTT topics and the messages both sides exchange, in one place.

Imported by the agent (to build messages) and by the collector (to validate them); the
schema is pydantic models, so validation is declared, not hand-written. ``docs/protocol.md``
describes the same contract for people.

Every upstream event carries (``device``, ``stream``, ``seq``): ``stream`` is a UUID made
once per install and ``seq`` increases within it, so a re-sent event is recognised.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from ihanoi.contract.errors import ProtocolError

DEFAULT_PREFIX = "ihanoi/v1"
MAX_PAYLOAD = 64 * 1024          # bytes; an event is a few hundred
DEVICE_ID = r"^[a-z0-9][a-z0-9-]{1,62}$"

DeviceId = Annotated[str, Field(pattern=DEVICE_ID)]
# Bounded by the store's columns (BIGINT, INTEGER), so a value the database cannot hold is
# refused here, with its field named, rather than by the database.
Seq = Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]
Count = Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]
# A content version is text ("2024.08.1" for a pack, "7" for bundle 7); integers are accepted as text.
Version = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v),
                    Field(min_length=1, max_length=64)]
_VERSION_RUNS = re.compile(r"([0-9]+)|([^0-9]+)")


def version_key(version: str | int) -> tuple:
    """Sort key of a content version, the one rule for "newer": runs of digits compare as numbers.

    "2024.08.10" > "2024.08.9" and "10" > "9" (as text both would be the other way round); a
    version that extends another is newer ("1.0a" > "1.0"); where one has digits and the other
    letters at the same place, the digits sort first; leading zeros do not count ("2024.08.1" is
    "2024.8.1"). Integers are taken as their text.
    """
    return tuple((0, int(digits), "") if digits else (1, 0, other)
                 for digits, other in _VERSION_RUNS.findall(str(version)))


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)   # JSON has no NaN

    def to_json(self) -> bytes:
        return encode(self)


class ContentRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=128)
    version: Version
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Play(_Message):
    """One play of campaign content; ``audience`` = PIR onsets from 5 min before start to end."""

    schema_: Literal["ihanoi.play/1"] = Field("ihanoi.play/1", alias="schema")
    device: DeviceId
    stream: UUID
    seq: Seq
    content: ContentRef
    start: AwareDatetime
    end: AwareDatetime
    completed: StrictBool
    audience: Count
    reason: Literal["peak", "live", "catch-up", "manual"]
    clock_synced: StrictBool

    @model_validator(mode="after")
    def _ordered(self):
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class Traffic(_Message):
    """Motion onsets counted in one bin (5 minutes by default)."""

    schema_: Literal["ihanoi.traffic/1"] = Field("ihanoi.traffic/1", alias="schema")
    device: DeviceId
    stream: UUID
    seq: Seq
    bin_start: AwareDatetime
    bin_seconds: StrictInt = Field(300, ge=1, le=3600)
    onsets: Count
    clock_synced: StrictBool


class Health(_Message):
    """Heartbeat, every 60 s. Optional fields are absent where the hardware cannot tell."""

    schema_: Literal["ihanoi.health/1"] = Field("ihanoi.health/1", alias="schema")
    device: DeviceId
    stream: UUID | None = None
    seq: Seq | None = None
    time: AwareDatetime
    uptime_s: Annotated[float, Field(ge=0)]
    outbox_depth: Count
    outbox_dropped: Count
    outbox_reset: str | None = Field(None, description="set when a corrupt outbox was moved aside: where it is kept")
    software_version: str
    content_version: Version | None = None
    content_id: str | None = None
    cpu_temp_c: float | None = None
    throttled: StrictInt | None = Field(None, ge=0, le=2**31 - 1, description="vcgencmd get_throttled bit field")
    clock_synced: StrictBool
    details: dict[str, Any] = Field(default_factory=dict, description="free-form extras (frame stats, update status)")


class State(_Message):
    """Retained presence: ``online`` on connect; ``offline`` as the last will or on shutdown."""

    schema_: Literal["ihanoi.state/1"] = Field("ihanoi.state/1", alias="schema")
    device: DeviceId
    state: Literal["online", "offline"]
    since: AwareDatetime
    reason: Literal["connected", "lost", "shutdown"] = "connected"
    software_version: str | None = None
    content_version: Version | None = None


UPSTREAM: dict[str, type[_Message]] = {"play": Play, "traffic": Traffic, "health": Health, "state": State}
SEQUENCED = ("play", "traffic", "health")
DIRECT = ("snapshot", "cmd-result")     # device -> server, not events: sent now or never


# --- topics ---------------------------------------------------------------------------------
class Topics:
    """Topic names for one prefix (``ihanoi/v1`` unless configured)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX):
        prefix = prefix.strip("/")
        if not prefix or any(c in prefix for c in "+#"):
            raise ValueError(f"topic prefix {prefix!r} must be non-empty and without wildcards")
        self.prefix = prefix

    def up(self, device: str, kind: str) -> str:
        if kind not in UPSTREAM and kind not in DIRECT:
            raise ValueError(f"unknown upstream kind {kind!r}")
        return f"{self.prefix}/dev/{device}/{kind}"

    def cmd(self, device: str, verb: str) -> str:
        return f"{self.prefix}/cmd/{device}/{verb}"

    def receipt(self, device: str) -> str:
        return f"{self.prefix}/cmd/{device}/{RECEIPT}"

    def unit_cmd(self, unit: str, verb: str) -> str:
        return f"{self.prefix}/unit/{unit}/{verb}"

    def subscription(self, kind: str) -> str:
        """Filter matching ``kind`` from every device."""
        return f"{self.prefix}/dev/+/{kind}"

    def parse_up(self, topic: str) -> tuple[str, str]:
        """``ihanoi/v1/dev/D/play`` -> (``D``, ``play``); ProtocolError when it is not one."""
        head = self.prefix + "/dev/"
        if not topic.startswith(head):
            raise ProtocolError("bad-topic", f"topic {topic!r} is not under {head}")
        parts = topic[len(head):].split("/")
        if len(parts) != 2 or parts[1] not in UPSTREAM:
            raise ProtocolError("bad-topic", f"topic {topic!r} is not {head}<device>/<{'|'.join(UPSTREAM)}>")
        return parts[0], parts[1]


# --- encoding -------------------------------------------------------------------------------
def encode(message: _Message) -> bytes:
    """Compact UTF-8 JSON, field names as in the contract (``schema``, not ``schema_``)."""
    return json.dumps(message.model_dump(mode="json", by_alias=True, exclude_none=True),
                      ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_ADAPTERS = {kind: TypeAdapter(model) for kind, model in UPSTREAM.items()}


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(message)"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{loc}: {err['msg']}{more}"


def decode(kind: str, payload: bytes, topic_device: str | None = None) -> _Message:
    """Validate one upstream payload of ``kind``; ProtocolError with a reason otherwise.

    Reasons: ``oversize``, ``bad-utf8``, ``bad-json``, ``wrong-schema`` (a different or
    unknown ``schema`` value), ``invalid`` (fields missing or of the wrong type),
    ``device-mismatch`` (the payload names another device than the topic).
    """
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError("oversize", f"{len(payload)} bytes, the limit is {MAX_PAYLOAD}")
    message = _decode_valid(kind, payload)
    if message is None:
        message = _decode_checked(kind, payload)
    if topic_device is not None and message.device != topic_device:
        raise ProtocolError("device-mismatch",
                            f"payload says device {message.device!r} but was published under {topic_device!r}")
    return message


def _decode_valid(kind: str, payload: bytes) -> _Message | None:
    """The fast path for a well-formed payload: pydantic parses and validates the bytes in
    one step (a collector draining a backlog does little else). None when anything is
    wrong: ``_decode_checked`` then finds what, with the reason the contract names."""
    try:
        message = _ADAPTERS[kind].validate_json(payload)
    except ValueError:      # ValidationError, or bytes that are not UTF-8
        return None
    # ``schema`` has a default for building messages, but an incoming one must say it.
    return message if "schema_" in message.model_fields_set else None


def _decode_checked(kind: str, payload: bytes) -> _Message:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("bad-utf8", f"byte {exc.start} is not UTF-8") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError("bad-json", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid", f"a {kind} message is a JSON object, got {type(data).__name__}")
    expected = UPSTREAM[kind].model_fields["schema_"].default
    if data.get("schema") != expected:
        raise ProtocolError("wrong-schema", f"schema is {data.get('schema')!r}, expected {expected!r}")
    try:
        return _ADAPTERS[kind].validate_python(data)
    except ValidationError as exc:
        raise ProtocolError("invalid", _first_error(exc)) from None


def parse(topics: Topics, topic: str, payload: bytes) -> tuple[str, _Message]:
    """Topic + payload -> (kind, message), every check included."""
    device, kind = topics.parse_up(topic)
    return kind, decode(kind, payload, device)


def event_key(message: _Message) -> tuple[str, str, int] | None:
    """The de-duplication key (device, stream, seq), or None for un-sequenced messages."""
    stream = getattr(message, "stream", None)
    seq = getattr(message, "seq", None)
    if stream is None or seq is None:
        return None
    return message.device, str(stream), seq


# --- commands (down) ------------------------------------------------------------------------
class PlayNow(_Message):
    """Play the promo now (counts toward the quota as ``manual``). Never retained."""

    schema_: Literal["ihanoi.cmd.play-now/1"] = Field("ihanoi.cmd.play-now/1", alias="schema")
    id: str = Field(min_length=1, max_length=64)
    requested: AwareDatetime | None = None


class QuotaOverride(_Message):
    """Desired plays per open day (retained). Never below the district's or the unit's quota;
    ``quota = null`` removes the override."""

    schema_: Literal["ihanoi.cmd.quota/1"] = Field("ihanoi.cmd.quota/1", alias="schema")
    quota: Annotated[StrictInt, Field(ge=1, le=200)] | None


class Brightness(_Message):
    """Panel brightness in percent while open (retained)."""

    schema_: Literal["ihanoi.cmd.brightness/1"] = Field("ihanoi.cmd.brightness/1", alias="schema")
    percent: Annotated[StrictInt, Field(ge=0, le=100)]


class SnapshotRequest(_Message):
    """Publish the frame on the board now as a PNG on ``dev/{device}/snapshot`` (retained)."""

    schema_: Literal["ihanoi.cmd.snapshot/1"] = Field("ihanoi.cmd.snapshot/1", alias="schema")
    id: str = Field(min_length=1, max_length=64)


class CommandResult(_Message):
    """The device's answer to a command, on ``dev/{device}/cmd-result``."""

    schema_: Literal["ihanoi.cmd-result/1"] = Field("ihanoi.cmd-result/1", alias="schema")
    device: DeviceId
    command: str
    id: str | None = None
    ok: StrictBool
    reason: str = ""
    time: AwareDatetime


# --- receipts (down) ------------------------------------------------------------------------
RECEIPT = "stored"           # cmd/{device}/stored: the collector's receipt for the device's events
MAX_RECEIPT_RANGES = 10_000


class Stored(_Message):
    """The collector's receipt on ``cmd/{device}/stored`` (QoS 1, not retained): these events of
    the device's ``stream`` are in the central store, not only at the broker. A board forgets an
    event only then, so a broker that dies outright loses nothing; ``seqs`` are inclusive ranges."""

    schema_: Literal["ihanoi.stored/1"] = Field("ihanoi.stored/1", alias="schema")
    device: DeviceId
    stream: UUID
    seqs: list[tuple[Seq, Seq]] = Field(min_length=1, max_length=MAX_RECEIPT_RANGES)

    @model_validator(mode="after")
    def _ordered(self):
        if any(last < first for first, last in self.seqs):
            raise ValueError("a range ends before it starts")
        return self


def seq_ranges(seqs) -> list[tuple[int, int]]:
    """Sorted sequence numbers as inclusive ranges: 1, 2, 3, 7 → (1, 3), (7, 7)."""
    ranges: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1][1] = seq
        else:
            ranges.append([seq, seq])
    return [(a, b) for a, b in ranges]


COMMANDS: dict[str, type[_Message] | None] = {
    "play-now": PlayNow, "quota": QuotaOverride, "brightness": Brightness, "snapshot": SnapshotRequest,
    "content": None,   # validated by edge.updates (signed bundle announcements)
}
COMMAND_VERBS = tuple(COMMANDS)
ONE_SHOT = frozenset({"play-now", "snapshot"})   # a retained copy of these is stale, never acted on


def decode_command(topics: Topics, topic: str, payload: bytes) -> tuple[str, str, Any]:
    """``cmd/{device}/{verb}`` or ``unit/{unit}/{verb}`` -> (scope, verb, message or dict).

    ``scope`` is ``device`` or ``unit``; ProtocolError (reason ``bad-command``, ``bad-json``,
    ``invalid``...) when the command is unknown or malformed.
    """
    for scope, head in (("device", f"{topics.prefix}/cmd/"), ("unit", f"{topics.prefix}/unit/")):
        if topic.startswith(head):
            parts = topic[len(head):].split("/")
            break
    else:
        raise ProtocolError("bad-topic", f"{topic!r} is not a command topic")
    if len(parts) != 2 or parts[1] not in COMMANDS:
        raise ProtocolError("bad-command", f"unknown command topic {topic!r}; verbs: {', '.join(COMMAND_VERBS)}")
    verb = parts[1]
    if verb == "content" and not payload:
        return scope, verb, None          # an empty retained message withdraws the announcement
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError("oversize", f"{len(payload)} bytes, the limit is {MAX_PAYLOAD}")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("bad-json", str(exc)) from None
    model = COMMANDS[verb]
    if model is None:
        if not isinstance(data, dict):
            raise ProtocolError("invalid", f"a {verb} command is a JSON object")
        return scope, verb, data
    try:
        return scope, verb, model.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError("invalid", _first_error(exc)) from None


def parse_datetime(value: str) -> datetime:
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return dt


Message = Union[Play, Traffic, Health, State]
