"""The wire protocol: MQTT topics and the messages both sides exchange, in one place.

Imported by the agent (to build messages) and by the collector (to validate them); the
schema is pydantic models, so validation is declared, not hand-written. ``docs/protocol.md``
describes the same contract for people.

Every upstream event carries (``device``, ``stream``, ``seq``): ``stream`` is a UUID made
once per install and ``seq`` increases within it, so a re-sent event is recognised.

Whatever bytes arrive, ``decode`` either returns a valid message or raises ``ProtocolError``
with a reason: the limits below (size, nesting depth, string lengths, representable times,
and the plausibility window a receiver may apply) are part of the contract, so that no
payload can make a receiver recurse, overflow or store a time that freezes "the newest fact".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Annotated, Any, Literal, NamedTuple, Union
from uuid import UUID

from pydantic import (
    AfterValidator,
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
from ihanoi.contract.registry import ID_PATTERN

DEFAULT_PREFIX = "ihanoi/v1"
MAX_PAYLOAD = 64 * 1024          # bytes; an event is a few hundred
# Arrays and objects inside one another, the message itself counting as 1. A board's deepest
# message (health details of an update) has 4; Python's json and pydantic recurse per level,
# so a payload of 30,000 brackets must be refused before either of them sees it.
MAX_JSON_DEPTH = 8
MAX_KEY = 64                     # characters of a key in free-form ``details``
DEVICE_ID = r"^[a-z0-9][a-z0-9-]{1,62}$"
# A content bundle's name, as its signed manifest carries it and as the last level of its own
# announcement topic (``unit/{unit}/content/{bundle}``): no '/', '+' or '#' can be in one.
BUNDLE_ID = r"^[a-z0-9][a-z0-9._-]{0,63}$"

# Every time a message carries lies in these years, whatever its offset: Python, SQLite and
# PostgreSQL can all hold such a time in UTC and in the campaign's zone (9999-12-31T23:59-12:00
# cannot be converted to UTC at all). A Pi without a clock starts at the epoch at worst.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_TIME = datetime(2100, 1, 1, tzinfo=timezone.utc)
# The plausibility window a receiver applies with its own clock (``TimeWindow``): boards are
# installed and learn their lobby's traffic some weeks before a campaign starts, and a board
# whose clock is synchronised is never more than moments ahead of the server's.
CAMPAIGN_LEAD = timedelta(days=31)
CLOCK_SKEW = timedelta(minutes=5)


def _representable(value: datetime) -> datetime:
    year = value.year
    if EARLIEST_TIME.year < year < LATEST_TIME.year - 1:
        return value              # no offset (less than a day) takes such a time out of the bounds
    # The year before any arithmetic: 9999-12-31T23:59-12:00 + 12 h raises OverflowError.
    if not EARLIEST_TIME.year <= year < LATEST_TIME.year or not (
            EARLIEST_TIME <= value.astimezone(timezone.utc) < LATEST_TIME):
        raise ValueError(f"a time between {EARLIEST_TIME.year} and {LATEST_TIME.year - 1} (UTC)")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_representable)]
DeviceId = Annotated[str, Field(pattern=DEVICE_ID)]
CampaignId = Annotated[str, Field(pattern=ID_PATTERN)]      # as the registry and campaigns name one
# Bounded by the store's columns (BIGINT, INTEGER), so a value the database cannot hold is
# refused here, with its field named, rather than by the database.
Seq = Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]
Count = Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]
# A content version is text ("2024.08.1" for a pack, "7" for bundle 7); integers are accepted as text.
Version = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v),
                    Field(min_length=1, max_length=64)]
_VERSION_RUNS = re.compile(r"([0-9]+)|([^0-9]+)")


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0), without recursing."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, (list, tuple)) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _bounded_details(value: dict[str, Any]) -> dict[str, Any]:
    # ``details`` sits at depth 2 of a health message.
    if json_depth(value) > MAX_JSON_DEPTH - 1:
        raise ValueError(f"nests deeper than the protocol's {MAX_JSON_DEPTH} levels")
    long = next((k for k in _keys(value) if len(k) > MAX_KEY), None)
    if long is not None:
        raise ValueError(f"key {long[:20]!r}... is longer than {MAX_KEY} characters")
    return value


def _keys(value: Any):
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield from item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


Details = Annotated[dict[str, Any], AfterValidator(_bounded_details)]


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


# Why nothing reaches the screen (the LED library cannot drive the board, the TV is off...):
# absent while the board shows what it plays.
ScreenFault = Annotated[str | None, Field(max_length=1024)]


# What a TV said of itself just before a play (HDMI-CEC, docs/hdmi.md): its power and whether
# another input was showing. ``unmanaged``: the screen is configured without CEC, nobody asked.
ScreenPower = Literal["on", "standby", "to-on", "to-standby", "no-reply", "not-acknowledged", "error", "unmanaged"]
ScreenInput = Literal["ours", "other", "unknown"]


def screen_showed(power: str | None, source: str | None = None) -> bool:
    """Whether a play was on a screen that showed it: the one rule the board and the report share.

    ``power`` None: the play message had no ``screen`` (an LED board, or a board from before the
    field): its ``completed`` says it all. A TV counts when it said ``on`` and was not showing
    another input (``source``: the message's ``screen.input``); a screen without CEC
    (``unmanaged``) counts as LED boards do, since nothing could check it. A TV that did not
    answer (``no-reply``, ``not-acknowledged``, ``error``) or was switching counts for nothing:
    silence is not "on".
    """
    if power is None or power == "unmanaged":
        return True
    return power == "on" and source != "other"


class PlayScreen(BaseModel):
    """The ``screen`` of a play message: what the screen said just before the play (TV boards only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    power: ScreenPower
    input: ScreenInput = "unknown"

    @property
    def showed(self) -> bool:
        return screen_showed(self.power, self.input)


class Play(_Message):
    """One play of campaign content; ``audience`` = PIR onsets from 5 min before start to end.

    ``screen`` is sent by TV boards only (absent from LED boards and from boards before it): a
    play on a TV in standby or on another input is reported, and not counted (``screen_showed``).
    ``campaign`` names the campaign the play was made for (``ihanoi.contract.campaigns``); a board
    from before campaigns leaves it out, and the collector counts such a play for the registry's
    campaign (the iHanoi promo), so old and new boards are both accepted during the change.
    """

    schema_: Literal["ihanoi.play/1"] = Field("ihanoi.play/1", alias="schema")
    device: DeviceId
    stream: UUID
    seq: Seq
    content: ContentRef
    start: Moment
    end: Moment
    completed: StrictBool
    audience: Count
    reason: Literal["peak", "live", "catch-up", "manual"]
    clock_synced: StrictBool
    screen: PlayScreen | None = None
    campaign: CampaignId | None = None

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
    bin_start: Moment
    bin_seconds: StrictInt = Field(300, ge=1, le=3600)
    onsets: Count
    clock_synced: StrictBool


class Health(_Message):
    """Heartbeat, every 60 s. Optional fields are absent where the hardware cannot tell."""

    schema_: Literal["ihanoi.health/1"] = Field("ihanoi.health/1", alias="schema")
    device: DeviceId
    stream: UUID | None = None
    seq: Seq | None = None
    time: Moment
    uptime_s: Annotated[float, Field(ge=0)]
    outbox_depth: Count
    outbox_dropped: Count
    outbox_reset: str | None = Field(None, max_length=1024,
                                     description="set when a corrupt outbox was moved aside: where it is kept")
    software_version: str = Field(max_length=64)
    content_version: Version | None = None
    content_id: str | None = Field(None, max_length=128)
    cpu_temp_c: float | None = None
    throttled: StrictInt | None = Field(None, ge=0, le=2**31 - 1, description="vcgencmd get_throttled bit field")
    clock_synced: StrictBool
    screen_fault: ScreenFault = None
    details: Details = Field(default_factory=dict, description="free-form extras (frame stats, update status)")


class State(_Message):
    """Retained presence: ``online`` on connect; ``offline`` as the last will or on shutdown."""

    schema_: Literal["ihanoi.state/1"] = Field("ihanoi.state/1", alias="schema")
    device: DeviceId
    state: Literal["online", "offline"]
    since: Moment
    reason: Literal["connected", "lost", "shutdown"] = "connected"
    software_version: str | None = Field(None, max_length=64)
    content_version: Version | None = None
    screen_fault: ScreenFault = None


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

    def content(self, device: str, bundle: str | None = None) -> str:
        """One board's announcement of ``bundle`` (``cmd/{device}/content/{bundle}``); without a
        bundle, the single topic of the boards from before one topic per bundle."""
        return self.cmd(device, CONTENT) + _bundle_level(bundle)

    def unit_content(self, unit: str, bundle: str | None = None) -> str:
        """Every board of a unit: ``unit/{unit}/content/{bundle}`` (``unit/{unit}/content`` without one)."""
        return self.unit_cmd(unit, CONTENT) + _bundle_level(bundle)

    def subscription(self, kind: str) -> str:
        """Filter matching ``kind`` from every device."""
        return f"{self.prefix}/dev/+/{kind}"

    def parse_up(self, topic: str) -> tuple[str, str]:
        """``ihanoi/v1/dev/D/play`` -> (``D``, ``play``); ProtocolError when it is not one."""
        head = self.prefix + "/dev/"
        if not topic.startswith(head):
            raise ProtocolError("bad-topic", f"topic {_shown(topic, 120)!r} is not under {head}")
        parts = topic[len(head):].split("/")
        if len(parts) != 2 or parts[1] not in UPSTREAM:
            raise ProtocolError("bad-topic",
                                f"topic {_shown(topic, 120)!r} is not {head}<device>/<{'|'.join(UPSTREAM)}>")
        return parts[0], parts[1]


def _bundle_level(bundle: str | None) -> str:
    if bundle is None:
        return ""
    if not isinstance(bundle, str) or not re.fullmatch(BUNDLE_ID, bundle):
        raise ValueError(f"bundle name {bundle!r} must match {BUNDLE_ID} (it is a topic level)")
    return f"/{bundle}"


# --- encoding -------------------------------------------------------------------------------
def encode(message: _Message) -> bytes:
    """Compact UTF-8 JSON, field names as in the contract (``schema``, not ``schema_``)."""
    return json.dumps(message.model_dump(mode="json", by_alias=True, exclude_none=True),
                      ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_ADAPTERS = {kind: TypeAdapter(model) for kind, model in UPSTREAM.items()}


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    loc = ".".join(_shown(p, 40) if isinstance(p, str) else str(p) for p in err["loc"]) or "(message)"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{loc}: {err['msg']}{more}"


def _shown(value: Any, limit: int = 60) -> str:
    """A value of an untrusted payload, as a short printable text for an error's detail."""
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return text if len(text) <= limit else text[:limit] + "…"


# A JSON string (escapes included), and anything that is not a bracket.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIR = re.compile(r"\[\]|\{\}")


def _check_nesting(text: str) -> None:
    """ProtocolError unless ``text``'s arrays and objects nest at most ``MAX_JSON_DEPTH`` deep.

    Without recursing: strings are taken out, then only the brackets are kept, and each
    round removes the innermost pairs. Valid JSON is gone after as many rounds as it is deep;
    brackets that never pair up are not JSON at all (and "[" x 30,000 would make Python's
    parser recurse before it noticed).
    """
    skeleton = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(MAX_JSON_DEPTH):
        if not skeleton:
            return
        skeleton, pairs = _EMPTY_PAIR.subn("", skeleton)
        if not pairs:
            break
    if not skeleton:
        return
    if _EMPTY_PAIR.search(skeleton):
        raise ProtocolError("too-deep", f"arrays and objects nest deeper than {MAX_JSON_DEPTH} levels")
    raise ProtocolError("bad-json", "brackets do not pair up")


def load_json(payload: bytes) -> Any:
    """Untrusted bytes -> a JSON value, or ProtocolError (``bad-utf8``, ``too-deep``, ``bad-json``);
    never another exception."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("bad-utf8", f"byte {exc.start} is not UTF-8") from None
    _check_nesting(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError("bad-json", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:     # an integer of more than 4,300 digits
        raise ProtocolError("bad-json", _shown(str(exc), 120)) from None


def decode(kind: str, payload: bytes, topic_device: str | None = None) -> _Message:
    """Validate one upstream payload of ``kind``; ProtocolError with a reason otherwise.

    Reasons: ``oversize``, ``bad-utf8``, ``bad-json``, ``too-deep`` (arrays and objects
    nested deeper than ``MAX_JSON_DEPTH``), ``wrong-schema`` (a different or unknown
    ``schema`` value), ``invalid`` (fields missing, of the wrong type, too long, or a time
    outside the years any store can hold), ``device-mismatch`` (the payload names another
    device than the topic).
    """
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError("oversize", f"{len(payload)} bytes, the limit is {MAX_PAYLOAD}")
    message = _decode_valid(kind, payload)
    if message is None:
        message = _decode_checked(kind, payload)
    if topic_device is not None and message.device != topic_device:
        raise ProtocolError("device-mismatch",
                            f"payload says device {_shown(message.device)!r} but was published under "
                            f"{_shown(topic_device)!r}")
    return message


def _decode_valid(kind: str, payload: bytes) -> _Message | None:
    """The fast path for a well-formed payload: pydantic parses and validates the bytes in
    one step (a collector draining a backlog does little else). None when anything is
    wrong: ``_decode_checked`` then finds what, with the reason the contract names. (Deep
    nesting fails here too: pydantic's parser stops at 200 levels, and only ``details`` can
    hold nested values, which its validator bounds.)"""
    try:
        message = _ADAPTERS[kind].validate_json(payload)
    except ValueError:      # ValidationError, or bytes that are not UTF-8
        return None
    # ``schema`` has a default for building messages, but an incoming one must say it.
    return message if "schema_" in message.model_fields_set else None


def _decode_checked(kind: str, payload: bytes) -> _Message:
    data = load_json(payload)
    if not isinstance(data, dict):
        raise ProtocolError("invalid", f"a {kind} message is a JSON object, got {type(data).__name__}")
    expected = UPSTREAM[kind].model_fields["schema_"].default
    if data.get("schema") != expected:
        raise ProtocolError("wrong-schema", f"schema is {_shown(data.get('schema'))!r}, expected {expected!r}")
    try:
        return _ADAPTERS[kind].validate_python(data)
    except ValidationError as exc:
        raise ProtocolError("invalid", _first_error(exc)) from None


# --- plausible times ------------------------------------------------------------------------
TIMES = {"play": ("start", "end"), "traffic": ("bin_start",), "health": ("time",), "state": ("since",)}


@dataclass(frozen=True)
class TimeWindow:
    """The times a receiver believes: from ``CAMPAIGN_LEAD`` before the campaign's first day
    to ``CLOCK_SKEW`` after its own clock's now.

    A play or traffic bin from a board whose clock is not synchronised is kept whatever its
    time (it says ``clock_synced: false``, and the report can tell); a heartbeat or a state is
    never kept outside the window, since the newest of them is the device's state and one
    dated 2099 would hide every real one after it.
    """

    earliest: datetime
    latest: datetime

    @classmethod
    def around(cls, now: datetime, first_day: date, tz: tzinfo,
               lead: timedelta = CAMPAIGN_LEAD, skew: timedelta = CLOCK_SKEW) -> "TimeWindow":
        return cls(datetime.combine(first_day, time(0), tz) - lead, now + skew)

    def check(self, kind: str, message: _Message) -> None:
        """ProtocolError ``implausible-time`` when a time of ``message`` is outside the window."""
        if kind in ("play", "traffic") and not message.clock_synced:
            return
        for name in TIMES.get(kind, ()):
            value = getattr(message, name)
            if not self.earliest <= value <= self.latest:
                raise ProtocolError(
                    "implausible-time",
                    f"{name} {value.isoformat()} is outside {self.earliest.isoformat(timespec='minutes')} .. "
                    f"{self.latest.isoformat(timespec='minutes')}: the board's clock is wrong (check NTP on it) "
                    f"or the message is not a board's")


def parse(topics: Topics, topic: str, payload: bytes, window: TimeWindow | None = None) -> tuple[str, _Message]:
    """Topic + payload -> (kind, message), every check included (the time window when given)."""
    device, kind = topics.parse_up(topic)
    message = decode(kind, payload, device)
    if window is not None:
        window.check(kind, message)
    return kind, message


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
    requested: Moment | None = None


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
    time: Moment


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


CONTENT = "content"
COMMANDS: dict[str, type[_Message] | None] = {
    "play-now": PlayNow, "quota": QuotaOverride, "brightness": Brightness, "snapshot": SnapshotRequest,
    CONTENT: None,   # validated by edge.updates (signed bundle announcements)
}
COMMAND_VERBS = tuple(COMMANDS)
ONE_SHOT = frozenset({"play-now", "snapshot"})   # a retained copy of these is stale, never acted on


class CommandTopic(NamedTuple):
    """Where a command came from: ``scope`` ``device`` (``cmd/{target}/...``) or ``unit``
    (``unit/{target}/...``), its ``verb``, and for a content announcement on its own bundle's
    topic (``.../content/{bundle}``) that ``bundle``; None on every other topic."""

    scope: str
    target: str
    verb: str
    bundle: str | None = None


class Command(NamedTuple):
    """A decoded command: ``message`` is the verb's model, or for ``content`` the JSON object
    (None: an empty retained message, the announcement withdrawn)."""

    scope: str
    verb: str
    message: Any
    bundle: str | None = None


def command_topic(topics: Topics, topic: str) -> CommandTopic:
    """``cmd/{device}/{verb}``, ``unit/{unit}/{verb}`` or ``.../content/{bundle}`` -> its parts.

    ProtocolError ``bad-topic`` (not under ``cmd/`` or ``unit/``, or a bundle name that is not one)
    or ``bad-command`` (an unknown verb), never another exception: the topic is untrusted too.
    """
    for scope, head in (("device", f"{topics.prefix}/cmd/"), ("unit", f"{topics.prefix}/unit/")):
        if topic.startswith(head):
            parts = topic[len(head):].split("/")
            break
    else:
        raise ProtocolError("bad-topic", f"{_shown(topic, 120)!r} is not a command topic")
    if len(parts) == 3 and parts[1] == CONTENT:
        if not re.fullmatch(BUNDLE_ID, parts[2]):
            raise ProtocolError("bad-topic", f"{_shown(topic, 120)!r}: {_shown(parts[2])!r} is not a bundle name "
                                             f"(lowercase letters, digits, '.', '_', '-'; at most 64)")
        return CommandTopic(scope, parts[0], CONTENT, parts[2])
    if len(parts) != 2 or parts[1] not in COMMANDS:
        raise ProtocolError("bad-command", f"unknown command topic {_shown(topic, 120)!r}; verbs: "
                                           f"{', '.join(COMMAND_VERBS)} (and {CONTENT}/<bundle>)")
    return CommandTopic(scope, parts[0], parts[1])


def decode_command(topics: Topics, topic: str, payload: bytes) -> Command:
    """``cmd/{device}/{verb}``, ``unit/{unit}/{verb}`` or ``.../content/{bundle}`` -> ``Command``.

    ``scope`` is ``device`` or ``unit``; ProtocolError (reason ``bad-topic``, ``bad-command``,
    ``bad-json``, ``too-deep``, ``invalid``, ``bundle-mismatch``: an announcement on one bundle's
    topic naming another bundle) when the command is unknown or malformed, never another exception.
    """
    where = command_topic(topics, topic)
    verb = where.verb
    if verb == CONTENT and not payload:
        return Command(where.scope, verb, None, where.bundle)   # an empty retained message withdraws it
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError("oversize", f"{len(payload)} bytes, the limit is {MAX_PAYLOAD}")
    data = load_json(payload)
    model = COMMANDS[verb]
    if model is None:
        if not isinstance(data, dict):
            raise ProtocolError("invalid", f"a {verb} command is a JSON object")
        if where.bundle is not None and data.get("bundle") != where.bundle:
            raise ProtocolError("bundle-mismatch", f"announcement of bundle {_shown(data.get('bundle'))!r} on the "
                                                   f"topic of bundle {where.bundle!r}")
        return Command(where.scope, verb, data, where.bundle)
    try:
        return Command(where.scope, verb, model.model_validate(data))
    except ValidationError as exc:
        raise ProtocolError("invalid", _first_error(exc)) from None


def parse_datetime(value: str) -> datetime:
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return dt


Message = Union[Play, Traffic, Health, State]
