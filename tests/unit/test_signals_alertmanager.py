"""Reading Alertmanager webhooks into signals.

Covers: a body captured from a real Alertmanager (0.25) parses to the expected signal;
optional fields, unknown keys, firing and resolved alerts in one group; the fingerprint
(kept when sent, computed as Alertmanager does when missing or empty, checked against
Prometheus' own test vector and against Alertmanager's output); Content-Type (415) and
every kind of malformed body (400), each with a reason naming the place; all or nothing
(one bad alert rejects the body); RFC 3339 timestamps as Go writes them; untrusted label
values passed through unchanged; signals frozen, read-only and equal for a re-sent alert;
fuzzing: arbitrary bytes, arbitrary JSON and valid bodies with one field replaced never
raise anything but PayloadError, and generated valid bodies keep their labels exactly.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healer.errors import HealerError
from healer.signals import (
    PayloadError,
    Signal,
    Webhook,
    WebhookAlert,
    labels_fingerprint,
    parse_webhook,
)

JSON = "application/json"
TIMESTAMP = "an RFC 3339 timestamp like 2026-12-03T10:15:30.5Z"

# Posted to a real Alertmanager 0.25.0 (the Debian package) through /api/v2/alerts and
# received by its webhook_config receiver; only externalURL was changed.
CAPTURED = (
    '{"receiver":"hook","status":"firing","alerts":[{"status":"firing","labels":'
    '{"alertname":"KubePodCrashLooping","namespace":"shop","pod":"checkout-1",'
    '"zone":"välue ☃"},"annotations":{"summary":"crash"},'
    '"startsAt":"2026-12-03T12:03:44.84007791Z","endsAt":"0001-01-01T00:00:00Z",'
    '"generatorURL":"http://prom/graph","fingerprint":"a637ab30233966c1"}],'
    '"groupLabels":{},"commonLabels":{"alertname":"KubePodCrashLooping","namespace":"shop",'
    '"pod":"checkout-1","zone":"välue ☃"},"commonAnnotations":{"summary":"crash"},'
    '"externalURL":"http://alertmanager:9093","version":"4","groupKey":"{}:{}",'
    '"truncatedAlerts":0}'
).encode()
CAPTURED_LABELS = {
    "alertname": "KubePodCrashLooping",
    "namespace": "shop",
    "pod": "checkout-1",
    "zone": "välue ☃",
}

FIRING: WebhookAlert = {
    "status": "firing",
    "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "checkout-1"},
    "annotations": {"summary": "Pod shop/checkout-1 is crash looping"},
    "startsAt": "2026-12-03T10:15:30.123456789Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
    "fingerprint": "0123456789abcdef",
}
RESOLVED: WebhookAlert = {
    "status": "resolved",
    "labels": {"alertname": "KubeNodeNotReady", "node": "worker-2"},
    "annotations": {},
    "startsAt": "2026-12-03T09:00:00+01:00",
    "endsAt": "2026-12-03T09:30:00.5+01:00",
    "generatorURL": "",
    "fingerprint": "fedcba9876543210",
}
GROUP: Webhook = {
    "version": "4",
    "groupKey": '{}:{alertname="KubePodCrashLooping"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "healer",
    "groupLabels": {"alertname": "KubePodCrashLooping"},
    "commonLabels": {},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [FIRING, RESOLVED],
}

DELETE = object()  # in a change: remove the key


def encoded(payload: object) -> bytes:
    """`payload` as a webhook body."""
    return json.dumps(payload).encode()


def changed(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    """A copy of GROUP with the value at `path` replaced (or removed, for DELETE)."""
    payload: dict[str, Any] = copy.deepcopy(dict(GROUP))
    parent: Any = payload
    for step in path[:-1]:
        parent = parent[step]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return payload


def rejection(body: bytes, content_type: str | None = JSON) -> PayloadError:
    """The error `parse_webhook` raises for this request."""
    with pytest.raises(PayloadError) as raised:
        parse_webhook(body, content_type)
    return raised.value


def test_captured_alertmanager_body_parses_to_its_signal() -> None:
    """A real Alertmanager body yields one signal carrying every field as sent."""
    assert parse_webhook(CAPTURED, JSON) == [
        Signal(
            source="alertmanager",
            status="firing",
            labels=CAPTURED_LABELS,
            annotations={"summary": "crash"},
            fingerprint="a637ab30233966c1",
            starts_at="2026-12-03T12:03:44.84007791Z",
            ends_at="0001-01-01T00:00:00Z",
            generator_url="http://prom/graph",
        )
    ]


def test_group_yields_one_signal_per_alert_in_order() -> None:
    """Firing and resolved alerts of one group come out in the body's order."""
    signals = parse_webhook(encoded(GROUP), JSON)
    assert [(s.alertname, s.status, s.fingerprint) for s in signals] == [
        ("KubePodCrashLooping", "firing", "0123456789abcdef"),
        ("KubeNodeNotReady", "resolved", "fedcba9876543210"),
    ]
    assert signals[1].starts_at == "2026-12-03T09:00:00+01:00"
    assert signals[1].ends_at == "2026-12-03T09:30:00.5+01:00"


def test_alert_with_only_required_fields() -> None:
    """An alert of status, labels and startsAt parses, the rest empty."""
    body = encoded(
        {
            "version": "4",
            "alerts": [{"status": "firing", "labels": {"a": "b"}, "startsAt": FIRING["startsAt"]}],
        }
    )
    [signal] = parse_webhook(body, JSON)
    assert signal.annotations == {}
    assert (signal.ends_at, signal.generator_url) == ("", "")
    assert signal.fingerprint == labels_fingerprint({"a": "b"})
    assert signal.alertname == ""


def test_unknown_keys_are_ignored() -> None:
    """Keys a newer Alertmanager may add, at either level, change nothing."""
    payload = changed(("alerts", 0, "silenceURL"), "http://alertmanager:9093/#/silences/new")
    payload["orgId"] = 1
    assert parse_webhook(encoded(payload), JSON) == parse_webhook(encoded(GROUP), JSON)


def test_empty_alert_list_yields_no_signal() -> None:
    """A group with no alerts is valid and yields nothing."""
    assert parse_webhook(encoded(changed(("alerts",), [])), JSON) == []


def test_fingerprint_matches_prometheus_test_vector() -> None:
    """The label set of prometheus/common's signature tests hashes to its 5799056148416392346."""
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert labels_fingerprint(labels) == f"{5799056148416392346:016x}"
    assert labels_fingerprint({}) == "cbf29ce484222325"  # FNV-1a's offset basis


def test_fingerprint_matches_alertmanager() -> None:
    """Labels with multi-byte UTF-8 hash to what Alertmanager sent for them."""
    assert labels_fingerprint(CAPTURED_LABELS) == "a637ab30233966c1"


@pytest.mark.parametrize("fingerprint", [DELETE, ""])
def test_fingerprint_computed_when_missing_or_empty(fingerprint: object) -> None:
    """A hand-written alert without a fingerprint gets the one Alertmanager would give."""
    payload = json.loads(CAPTURED)
    if fingerprint is DELETE:
        del payload["alerts"][0]["fingerprint"]
    else:
        payload["alerts"][0]["fingerprint"] = fingerprint
    [signal] = parse_webhook(encoded(payload), JSON)
    assert signal.fingerprint == "a637ab30233966c1"


def test_fingerprint_hashes_lone_surrogate_as_go_reads_it() -> None:
    """A lone surrogate hashes as U+FFFD, the character Go's JSON decoder reads it as."""
    assert labels_fingerprint({"pod": "x\ud800"}) == labels_fingerprint({"pod": "x\ufffd"})
    assert labels_fingerprint({"pod": "x\ud800"}) != labels_fingerprint({"pod": "x"})


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        'application/json;charset="UTF-8"',
        "application/json; boundary=ignored",
    ],
)
def test_json_content_types_accepted(content_type: str) -> None:
    """application/json, in any case, with a utf-8 charset or other parameters, is read."""
    assert len(parse_webhook(encoded(GROUP), content_type)) == 2


@pytest.mark.parametrize(
    ("content_type", "reason"),
    [
        (None, "Content-Type: missing; send the webhook as application/json"),
        ("  ", "Content-Type: missing; send the webhook as application/json"),
        ("text/plain", 'Content-Type: healer reads application/json, got "text/plain"'),
        (
            "application/x-www-form-urlencoded",
            'Content-Type: healer reads application/json, got "application/x-www-form-urlencoded"',
        ),
        (
            "application/json; charset=latin-1",
            'Content-Type: healer reads charset utf-8, got "latin-1"',
        ),
    ],
)
def test_other_content_types_refused_with_415(content_type: str | None, reason: str) -> None:
    """Anything but UTF-8 JSON is refused as an unsupported media type, saying what to send."""
    error = rejection(encoded(GROUP), content_type)
    assert (error.status, error.reason) == (415, reason)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"version": "4", "alerts": [\xff]}', "not UTF-8: invalid start byte at byte 28 (0xff)"),
        (b'{"version": "4" "alerts": []}', "not JSON: Expecting ',' delimiter at line 1 column 17"),
        (b"", "not JSON: Expecting value at line 1 column 1"),
        (b'{"version": "4", "alerts": [NaN]}', "not JSON: NaN is not a JSON value"),
        (b"[" * 100_000, "not JSON healer reads: nested too deeply"),
        (b"9" * 5_000, "not JSON healer reads: a number has too many digits"),
        (b'[{"version": "4"}]', "body: expected a JSON object, got a list"),
        (b"null", "body: expected a JSON object, got null"),
    ],
)
def test_unreadable_bodies_refused(body: bytes, reason: str) -> None:
    """A body that is not a UTF-8 JSON object is refused with 400 and where it broke."""
    error = rejection(body)
    assert (error.status, error.reason) == (400, reason)


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("version",), "3", 'version: healer reads Alertmanager webhook version "4", got "3"'),
        (("version",), 4, 'version: healer reads Alertmanager webhook version "4", got 4'),
        (("version",), DELETE, 'version: missing; healer reads Alertmanager webhook version "4"'),
        (("alerts",), DELETE, "alerts: missing; expected a list of alerts"),
        (("alerts",), {}, "alerts: expected a list of alerts, got an object"),
        (("alerts", 1), "alert", 'alerts[1]: expected an object, got "alert"'),
        (
            ("alerts", 1, "status"),
            "pending",
            'alerts[1].status: expected "firing" or "resolved", got "pending"',
        ),
        (
            ("alerts", 1, "status"),
            DELETE,
            'alerts[1].status: missing; expected "firing" or "resolved"',
        ),
        (
            ("alerts", 1, "labels"),
            DELETE,
            "alerts[1].labels: missing; expected an object of strings",
        ),
        (
            ("alerts", 1, "labels"),
            ["pod"],
            "alerts[1].labels: expected an object of strings, got a list",
        ),
        (("alerts", 1, "labels", "pod"), 42, "alerts[1].labels.pod: expected a string, got 42"),
        (("alerts", 1, "labels", "pod"), None, "alerts[1].labels.pod: expected a string, got null"),
        (
            ("alerts", 1, "labels", "app.kubernetes.io/name"),
            True,
            'alerts[1].labels["app.kubernetes.io/name"]: expected a string, got true',
        ),
        (("alerts", 1, "labels", ""), "x", "alerts[1].labels: a label name is empty"),
        (
            ("alerts", 1, "annotations"),
            None,
            "alerts[1].annotations: expected an object of strings, got null",
        ),
        (
            ("alerts", 1, "annotations", "summary"),
            ["a"],
            "alerts[1].annotations.summary: expected a string, got a list",
        ),
        (("alerts", 1, "startsAt"), DELETE, f"alerts[1].startsAt: missing; expected {TIMESTAMP}"),
        (
            ("alerts", 1, "startsAt"),
            1764756930,
            f"alerts[1].startsAt: expected {TIMESTAMP}, got 1764756930",
        ),
        (
            ("alerts", 1, "startsAt"),
            "yesterday",
            f'alerts[1].startsAt: expected {TIMESTAMP}, got "yesterday"',
        ),
        (("alerts", 1, "endsAt"), "", f'alerts[1].endsAt: expected {TIMESTAMP}, got ""'),
        (("alerts", 1, "endsAt"), 0, f"alerts[1].endsAt: expected {TIMESTAMP}, got 0"),
        (
            ("alerts", 1, "generatorURL"),
            None,
            "alerts[1].generatorURL: expected a string, got null",
        ),
        (("alerts", 1, "fingerprint"), 12, "alerts[1].fingerprint: expected a string, got 12"),
        (("receiver",), 1, "receiver: expected a string, got 1"),
        (("status",), [], "status: expected a string, got a list"),
        (("externalURL",), None, "externalURL: expected a string, got null"),
        (("groupKey",), {}, "groupKey: expected a string, got an object"),
        (("groupLabels", "alertname"), 1, "groupLabels.alertname: expected a string, got 1"),
        (("commonLabels",), None, "commonLabels: expected an object of strings, got null"),
        (("commonAnnotations",), "", 'commonAnnotations: expected an object of strings, got ""'),
        (("truncatedAlerts",), -1, "truncatedAlerts: expected a count, got -1"),
        (("truncatedAlerts",), "0", 'truncatedAlerts: expected a count, got "0"'),
        (("truncatedAlerts",), True, "truncatedAlerts: expected a count, got true"),
    ],
)
def test_malformed_webhook_refused_naming_the_place(
    path: tuple[str | int, ...], value: object, reason: str
) -> None:
    """Each wrong or missing field is refused with 400 and a reason that names its place."""
    error = rejection(encoded(changed(path, value)))
    assert (error.status, error.reason) == (400, reason)


def test_one_bad_alert_rejects_the_whole_body() -> None:
    """All or nothing: good alerts before and after a bad one yield no signal either."""
    bad = copy.deepcopy(FIRING)
    del bad["startsAt"]
    payload = changed(("alerts",), [FIRING, RESOLVED, FIRING, bad, RESOLVED])
    error = rejection(encoded(payload))
    assert error.reason.startswith("alerts[3].startsAt: missing")


def test_payload_error_is_a_healer_error() -> None:
    """A refused body is a HealerError: the user sees its reason, not a traceback."""
    assert isinstance(rejection(b"{"), HealerError)


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-12-03T10:15:30Z",
        "2026-12-03T10:15:30.123456789Z",
        "2026-12-03T10:15:30.84007791Z",
        "2026-12-03T10:15:30.1+01:00",
        "2026-12-03T23:59:59-05:30",
        "2024-02-29T00:00:00Z",
        "2000-02-29T00:00:00Z",
        "2026-01-31T00:00:00Z",
        "0001-01-01T00:00:00Z",
    ],
)
def test_rfc3339_timestamps_as_go_writes_them_accepted(timestamp: str) -> None:
    """Go's timestamps, nanoseconds, offsets and the zero time are read, kept as sent."""
    payload = changed(("alerts", 0, "startsAt"), timestamp)
    payload["alerts"][1]["endsAt"] = timestamp
    signals = parse_webhook(encoded(payload), JSON)
    assert (signals[0].starts_at, signals[1].ends_at) == (timestamp, timestamp)


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-12-03 10:15:30Z",
        "2026-12-03T10:15:30",
        "2026-12-03T10:15Z",
        "2026-12-03T10:15:30.Z",
        "2026-12-03t10:15:30z",
        "2026-12-03T24:00:00Z",
        "2026-12-03T10:60:00Z",
        "2026-12-03T10:15:60Z",
        "2026-13-03T10:15:30Z",
        "2026-12-00T10:15:30Z",
        "2026-04-31T10:15:30Z",
        "2023-02-29T10:15:30Z",
        "1900-02-29T10:15:30Z",
        "2026-12-03T10:15:30+0100",
        "\uff12\uff10\uff12\uff16-12-03T10:15:30Z",  # full-width digits
        "2026-12-03T10:15:30Z\n",
    ],
)
def test_other_timestamps_refused(timestamp: str) -> None:
    """A time Go would not read (no zone, a bad day, other digits) is refused."""
    error = rejection(encoded(changed(("alerts", 0, "startsAt"), timestamp)))
    assert error.reason == f"alerts[0].startsAt: expected {TIMESTAMP}, got {json.dumps(timestamp)}"


@pytest.mark.parametrize(
    "value",
    ["", "nul\x00byte", "lone \ud800 surrogate", "\U0001f525", "x" * 100_000, "a\nb"],
    ids=["empty", "nul", "surrogate", "emoji", "100KB", "newline"],
)
def test_untrusted_label_values_pass_through_unchanged(value: str) -> None:
    """Any string is a label value: the engine decides what to refuse, not the parser."""
    payload = changed(("alerts", 0, "labels", "pod"), value)
    del payload["alerts"][0]["fingerprint"]
    [signal, _] = parse_webhook(encoded(payload), JSON)
    assert signal.labels["pod"] == value
    assert len(signal.fingerprint) == 16


def test_reasons_show_untrusted_text_on_one_short_line() -> None:
    """A hostile value in a reason is escaped and cut short: one line, no raw control bytes."""
    payload = changed(("alerts", 0, "startsAt"), "\n\x1b[31m" + "x" * 1000)
    reason = rejection(encoded(payload)).reason
    assert "\n" not in reason
    assert "\x1b" not in reason
    assert len(reason) < 200


def test_signal_is_frozen_and_read_only() -> None:
    """Nothing downstream can change a signal, its labels or its annotations."""
    [signal, _] = parse_webhook(encoded(GROUP), JSON)
    with pytest.raises(dataclasses.FrozenInstanceError):
        signal.status = "resolved"  # type: ignore[misc]
    with pytest.raises(TypeError):
        signal.labels["pod"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        signal.annotations["summary"] = "other"  # type: ignore[index]


def test_resent_alert_gives_an_equal_signal() -> None:
    """The same alert sent twice gives equal, equally hashed signals (one incident)."""
    first = parse_webhook(encoded(GROUP), JSON)
    again = parse_webhook(encoded(GROUP), JSON)
    assert first == again
    assert {*first, *again} == set(first)


# --- fuzzing -----------------------------------------------------------------------------

any_text = st.text(st.characters(exclude_categories=()))  # surrogates included
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=20,
)
timestamps = st.builds(
    lambda moment, digits, zone: (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        f"{'.' + str(moment.microsecond).zfill(6)[:digits] if digits else ''}{zone}"
    ),
    st.datetimes(),
    st.integers(0, 6),
    st.sampled_from(["Z", "+00:00", "+01:00", "-05:30", "+14:00"]),
)
valid_alerts = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["firing", "resolved"]),
        "labels": st.dictionaries(any_text.filter(bool), any_text, max_size=6),
        "startsAt": timestamps,
    },
    optional={
        "annotations": st.dictionaries(any_text, any_text, max_size=3),
        "endsAt": timestamps,
        "generatorURL": any_text,
        "fingerprint": st.text("0123456789abcdef", min_size=16, max_size=16),
    },
)


def refused_or_read(body: bytes) -> None:
    """Parse `body`; a refusal must be a 400 with a one-line reason."""
    try:
        parse_webhook(body, JSON)
    except PayloadError as error:
        refusal = error
    else:
        return
    assert refusal.status == 400
    assert refusal.reason
    assert "\n" not in refusal.reason


@given(st.binary())
def test_arbitrary_bytes_only_raise_payload_error(body: bytes) -> None:
    """Random bytes are read or refused with 400, never a crash."""
    refused_or_read(body)


@given(json_values)
def test_arbitrary_json_only_raises_payload_error(value: object) -> None:
    """Any JSON document is read or refused with 400, never a crash."""
    refused_or_read(encoded(value))


@given(
    st.sampled_from(
        [
            ("version",),
            ("alerts",),
            ("alerts", 0),
            ("groupLabels",),
            ("truncatedAlerts",),
            *[("alerts", 1, key) for key in RESOLVED],
            ("alerts", 0, "labels", "pod"),
            ("alerts", 0, "annotations", "summary"),
        ]
    ),
    json_values,
)
def test_valid_body_with_one_field_replaced_only_raises_payload_error(
    path: tuple[str | int, ...], value: object
) -> None:
    """A near-valid body, one field anything at all, is read or refused with 400."""
    refused_or_read(encoded(changed(path, value)))


@given(st.lists(valid_alerts, max_size=5))
def test_valid_bodies_keep_labels_exactly(alerts: list[dict[str, Any]]) -> None:
    """Every valid alert becomes a signal with its labels, times and fingerprint as sent."""
    signals = parse_webhook(encoded({"version": "4", "alerts": alerts}), JSON)
    assert [dict(s.labels) for s in signals] == [a["labels"] for a in alerts]
    assert [s.starts_at for s in signals] == [a["startsAt"] for a in alerts]
    assert [s.fingerprint for s in signals] == [
        a.get("fingerprint") or labels_fingerprint(a["labels"]) for a in alerts
    ]
