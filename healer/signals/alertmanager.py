"""Alertmanager's webhook, read into `Signal`s: the door most alerts come in by.

The body of a webhook comes from the network and its labels from workloads, so this module
trusts nothing in it: it checks every field healer reads and rejects the whole payload with
a `PayloadError` at the first one that is wrong. `PayloadError.status` is the HTTP answer
(415 for a body that is not JSON by its Content-Type, 400 for one that is but is not a
version 4 webhook) and `.reason` one line naming the place (`alerts[3].labels.pod:
expected a string, got 42`). All or nothing: a payload with one bad alert yields no
signal, so the sender sees the error and healer changes nothing.

Neighbours: the HTTP server calls `parse_webhook` with a request's body and Content-Type;
the engine consumes the `Signal`s it returns. Nothing here does I/O or keeps state between
calls.

What Alertmanager sends (a `webhook_config` receiver, payload version "4"): one POST per
notification of an alert group, with `Content-Type: application/json` and this body:

    {
      "version": "4",
      "groupKey": "{}:{alertname=\\"KubePodCrashLooping\\"}",
      "truncatedAlerts": 0,             # alerts left out by the receiver's max_alerts
      "status": "firing",               # the group's: "firing" while any alert fires
      "receiver": "healer",
      "groupLabels": {"alertname": "KubePodCrashLooping"},
      "commonLabels": {...},            # labels every alert of the group shares
      "commonAnnotations": {...},
      "externalURL": "http://alertmanager:9093",
      "alerts": [
        {
          "status": "firing",           # or "resolved"
          "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "..."},
          "annotations": {"summary": "..."},
          "startsAt": "2026-12-03T10:15:30.123456789Z",  # RFC 3339, Go's nanoseconds
          "endsAt": "0001-01-01T00:00:00Z",               # Go's zero time: not ended yet
          "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
          "fingerprint": "a637ab30233966c1"               # the labels' hash, 16 hex digits
        }
      ]
    }

Alertmanager re-sends a group's alerts on every group_interval and repeat_interval, so the
same firing alert arrives many times: with the same fingerprint and startsAt each time,
which is how the engine tells a repeat from a new incident. A body written by hand (a curl
while testing a runbook) may leave out the fingerprint; healer then computes it from the
labels exactly as Alertmanager does (`labels_fingerprint`), so the same alert gets the same
identity whichever way it came in.

What is checked, and what is not:
- Required in an alert: `status`, `labels` (an object of string to string, no empty label
  name) and `startsAt`. `annotations`, `endsAt`, `generatorURL` and `fingerprint` are
  optional, but of the right type when present; the group-level fields likewise.
- Timestamps are RFC 3339 in the form Go's `time.Time` writes them: `T` and `Z` upper
  case, any number of fraction digits, no leap second, a real calendar day.
- Label and annotation values are not checked at all: any string, including NUL, lone
  surrogates (`"\\ud800"` in the JSON) and very long ones, reaches the engine unchanged.
  Rendering them into Kubernetes names is where they are refused.
- Keys healer does not know are ignored, so a newer Alertmanager's additions do not break
  the intake.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, NoReturn, NotRequired, TypedDict

from healer.errors import HealerError

__all__ = [
    "PayloadError",
    "Signal",
    "Webhook",
    "WebhookAlert",
    "labels_fingerprint",
    "parse_webhook",
]

# The payload format healer reads: Alertmanager's webhook "version" field.
WEBHOOK_VERSION = "4"


class WebhookAlert(TypedDict):
    """One alert of a webhook body, as Alertmanager writes it (its JSON names)."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: NotRequired[dict[str, str]]
    startsAt: str
    endsAt: NotRequired[str]
    generatorURL: NotRequired[str]
    fingerprint: NotRequired[str]


class Webhook(TypedDict):
    """A webhook body (payload version 4), as Alertmanager writes it (its JSON names)."""

    version: Literal["4"]
    alerts: list[WebhookAlert]
    receiver: NotRequired[str]
    status: NotRequired[str]
    groupLabels: NotRequired[dict[str, str]]
    commonLabels: NotRequired[dict[str, str]]
    commonAnnotations: NotRequired[dict[str, str]]
    externalURL: NotRequired[str]
    groupKey: NotRequired[str]
    truncatedAlerts: NotRequired[int]


class PayloadError(HealerError):
    """A webhook body healer refuses: `status` is the HTTP answer, `reason` what and where."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


_NO_STRINGS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Signal:
    """One alert as the engine sees it: what fired (labels) and which incident it is.

    `fingerprint` and `starts_at` together identify the incident: a re-sent alert has the
    same pair, the same alert firing again later has a new `starts_at`. The timestamps are
    kept exactly as sent (RFC 3339 text); `ends_at` is "" when the sender gave none, and
    Go's zero time "0001-01-01T00:00:00Z" while an alert from Alertmanager still fires.
    Labels and annotations are read-only views; their values are untrusted text.
    """

    source: str
    status: str
    labels: Mapping[str, str] = field(hash=False)
    annotations: Mapping[str, str] = field(hash=False)
    fingerprint: str
    starts_at: str
    ends_at: str
    generator_url: str

    @property
    def alertname(self) -> str:
        """The `alertname` label, or "" when there is none."""
        return self.labels.get("alertname", "")


def parse_webhook(body: bytes, content_type: str | None) -> list[Signal]:
    """The signals of an Alertmanager webhook request, in the payload's order.

    Raises `PayloadError` (415 or 400) when the body is not a version 4 webhook in JSON;
    then no signal is returned at all, whichever alert was at fault.
    """
    _check_media_type(content_type)
    alerts = _check_webhook(_decode(body))
    valid_times: set[str] = set()  # the timestamps this body has shown valid so far
    return [_read_alert(alert, index, valid_times) for index, alert in enumerate(alerts)]


# --- the fingerprint -------------------------------------------------------------------

_FNV64_OFFSET = 0xCBF29CE484222325
_FNV64_PRIME = 0x100000001B3
_UINT64 = 0xFFFFFFFFFFFFFFFF
# ends every name and value: 0xff never occurs in UTF-8, so moving text from a name to its
# value (or to the next name) changes the bytes hashed
_SEPARATOR = 0xFF
_SURROGATE = re.compile("[\ud800-\udfff]")


def labels_fingerprint(labels: Mapping[str, str]) -> str:
    """The fingerprint Alertmanager gives an alert with these labels: 16 lower-case hex digits.

    FNV-1a, 64 bits, over each label's name, 0xff, value, 0xff, in the byte order of the
    names (Prometheus' `LabelSet.Fingerprint`). A lone surrogate, which a Go decoder would
    have read as U+FFFD, is hashed as U+FFFD. Pure Python, about a tenth of a microsecond
    per byte: cheap for real labels, and only run for alerts sent without a fingerprint.
    """
    pairs = sorted((_utf8(name), _utf8(value)) for name, value in labels.items())
    digest = _FNV64_OFFSET
    for name, value in pairs:
        for part in (name, value):
            for byte in part:
                digest = ((digest ^ byte) * _FNV64_PRIME) & _UINT64
            digest = ((digest ^ _SEPARATOR) * _FNV64_PRIME) & _UINT64
    return f"{digest:016x}"


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode()


# --- reading the body --------------------------------------------------------------------


def _check_media_type(content_type: str | None) -> None:
    if not content_type or not content_type.strip():
        raise PayloadError(415, "Content-Type: missing; send the webhook as application/json")
    media_type, *parameters = content_type.split(";")
    if media_type.strip().lower() != "application/json":
        raise PayloadError(
            415,
            f"Content-Type: healer reads application/json, got {_shown(media_type.strip())}",
        )
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "charset":
            continue
        charset = value.strip().strip('"').lower()
        if charset != "utf-8":
            raise PayloadError(
                415, f"Content-Type: healer reads charset utf-8, got {_shown(charset)}"
            )


def _decode(body: bytes) -> object:
    try:
        text = body.decode()
    except UnicodeDecodeError as error:
        raise PayloadError(
            400, f"not UTF-8: {error.reason} at byte {error.start} ({body[error.start]:#04x})"
        ) from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise PayloadError(
            400, f"not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise PayloadError(400, "not JSON healer reads: nested too deeply") from None
    except ValueError:  # an integer of more digits than Python converts
        raise PayloadError(400, "not JSON healer reads: a number has too many digits") from None


def _refuse_constant(name: str) -> NoReturn:
    raise PayloadError(400, f"not JSON: {name} is not a JSON value")


def _check_webhook(data: object) -> list[object]:
    """The alerts of a webhook body, once its group-level fields are checked."""
    if type(data) is not dict:
        raise PayloadError(400, f"body: expected a JSON object, got {_shown(data)}")
    if "version" not in data:
        raise PayloadError(
            400, f'version: missing; healer reads Alertmanager webhook version "{WEBHOOK_VERSION}"'
        )
    if data["version"] != WEBHOOK_VERSION:
        raise PayloadError(
            400,
            f'version: healer reads Alertmanager webhook version "{WEBHOOK_VERSION}", '
            f"got {_shown(data['version'])}",
        )
    for key in ("receiver", "status", "externalURL", "groupKey"):
        if key in data and type(data[key]) is not str:
            raise _wrong(key, "a string", data, key)
    for key in ("groupLabels", "commonLabels", "commonAnnotations"):
        if key in data and (type(data[key]) is not dict or not _all_strings(data[key])):
            raise _not_strings(data[key], key)
    if "truncatedAlerts" in data:
        truncated = data["truncatedAlerts"]
        if type(truncated) is not int or truncated < 0:
            raise _wrong("truncatedAlerts", "a count", data, "truncatedAlerts")
    alerts = data.get("alerts")
    if type(alerts) is not list:
        raise _wrong("alerts", "a list of alerts", data, "alerts")
    return alerts


def _read_alert(alert: object, index: int, valid_times: set[str]) -> Signal:
    """The signal of `alerts[index]`, once checked; `valid_times` saves re-checking a time.

    The hot path of the intake, run for every alert: it checks with type() and set
    lookups, builds a reason only on failure, and calls Signal positionally (keyword
    arguments to a frozen dataclass cost about as much again as all the checks).
    """
    if type(alert) is not dict:
        raise PayloadError(400, f"alerts[{index}]: expected an object, got {_shown(alert)}")
    status = alert.get("status")
    if status not in ("firing", "resolved"):
        raise _wrong(f"alerts[{index}].status", '"firing" or "resolved"', alert, "status")
    labels = alert.get("labels")
    if type(labels) is not dict or not _all_strings(labels):
        raise _not_strings(labels, f"alerts[{index}].labels", present="labels" in alert)
    if "" in labels:
        raise PayloadError(400, f"alerts[{index}].labels: a label name is empty")
    annotations = alert.get("annotations")
    if annotations is not None or "annotations" in alert:
        if type(annotations) is not dict or not _all_strings(annotations):
            raise _not_strings(annotations, f"alerts[{index}].annotations")
        shown_annotations = MappingProxyType(annotations) if annotations else _NO_STRINGS
    else:
        shown_annotations = _NO_STRINGS
    starts_at = alert.get("startsAt")
    if type(starts_at) is not str or starts_at not in valid_times:
        if type(starts_at) is not str or not _is_timestamp(starts_at):
            raise _wrong(f"alerts[{index}].startsAt", _TIMESTAMP, alert, "startsAt")
        valid_times.add(starts_at)
    ends_at = alert.get("endsAt")
    if ends_at is None and "endsAt" not in alert:
        ends_at = ""
    elif type(ends_at) is not str or ends_at not in valid_times:
        if type(ends_at) is not str or not _is_timestamp(ends_at):
            raise _wrong(f"alerts[{index}].endsAt", _TIMESTAMP, alert, "endsAt")
        valid_times.add(ends_at)
    generator_url = alert.get("generatorURL", "")
    if type(generator_url) is not str:
        raise _wrong(f"alerts[{index}].generatorURL", "a string", alert, "generatorURL")
    fingerprint = alert.get("fingerprint", "")
    if type(fingerprint) is not str:
        raise _wrong(f"alerts[{index}].fingerprint", "a string", alert, "fingerprint")
    return Signal(
        "alertmanager",
        status,
        MappingProxyType(labels),
        shown_annotations,
        fingerprint or labels_fingerprint(labels),
        starts_at,
        ends_at,
        generator_url,
    )


def _all_strings(mapping: dict[str, object]) -> bool:
    # a plain loop: a third faster than all() over a generator, and it runs twice per alert
    for value in mapping.values():  # noqa: SIM110
        if type(value) is not str:
            return False
    return True


def _not_strings(value: object, place: str, *, present: bool = True) -> PayloadError:
    """Why `value`, at `place`, is not an object of strings."""
    if not present:
        return PayloadError(400, f"{place}: missing; expected an object of strings")
    if type(value) is dict:
        for name, item in value.items():
            if type(item) is not str:
                return PayloadError(
                    400, f"{_member(place, name)}: expected a string, got {_shown(item)}"
                )
    return PayloadError(400, f"{place}: expected an object of strings, got {_shown(value)}")


# --- timestamps --------------------------------------------------------------------------

_TIMESTAMP = "an RFC 3339 timestamp like 2026-12-03T10:15:30.5Z"
_RFC3339 = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)
_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _is_timestamp(text: str) -> bool:
    if _RFC3339.fullmatch(text) is None:
        return False
    if text[8:10] <= "28":  # every month has the day: the common case needs no arithmetic
        return True
    year, month, day = int(text[:4]), int(text[5:7]), int(text[8:10])
    if month == 2 and day == 29:
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= _DAYS_IN_MONTH[month]


# --- reasons -----------------------------------------------------------------------------

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHOWN_LENGTH = 60


def _wrong(place: str, expected: str, parent: dict[str, object], key: str) -> PayloadError:
    if key not in parent:
        return PayloadError(400, f"{place}: missing; expected {expected}")
    return PayloadError(400, f"{place}: expected {expected}, got {_shown(parent[key])}")


def _member(place: str, name: str) -> str:
    """The place of key `name` in the object at `place`: `a.b`, or `a["b c"]`."""
    if _PLAIN_NAME.fullmatch(name):
        return f"{place}.{name}"
    return f"{place}[{_shown(name)}]"


def _shown(value: object) -> str:
    """`value` as a short piece of one line of JSON: the "got ..." of a reason."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value)
    if len(text) > _SHOWN_LENGTH:
        return text[: _SHOWN_LENGTH - 3] + "..."
    return text
