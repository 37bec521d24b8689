"""Server-side Table printing for the sandbox (healer.sandbox.tables).

Covers:
- the Table envelope: kind/apiVersion, list metadata, column definitions, no_headers for
  watch events after the first;
- age formatting: apimachinery HumanDuration at every unit boundary, clock-skew tolerance,
  ``<invalid>`` for the future and ``<unknown>`` for a missing timestamp;
- pod STATUS reasons: crash loop, OOM kill, terminating, completed job pod, failed
  container beside a completed one, pod on an unreachable node, not-ready pod, init
  containers, scheduling gates, sidecars; READY, RESTARTS "(5m ago)" and the wide columns;
- nodes: cordoned NotReady, unreachable, roles, wide columns;
- a deployment mid-rollout, replica/stateful/daemon sets, jobs;
- services, events (core/v1 and events.k8s.io/v1), PDBs, HPAs, namespaces, configmaps,
  leases;
- includeObject: Metadata (PartialObjectMetadata), Object, None, and a rejected value;
- the default Name / Created At table for resources without a printer;
- every printer fills exactly one cell per column, whatever the object holds.

Expected cells are what the real API server computes: they follow the print functions in
k8s.io/kubernetes pkg/printers/internalversion/printers.go, and several cases are the ones
its printers_test.go pins (noted where so).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healer.sandbox.tables import PRINTERS, TableOptionsError, human_duration, to_table

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    """An RFC 3339 timestamp the given time before NOW."""
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def row(resource: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The single row printed for obj, as column name -> cell."""
    table = to_table(resource, [obj], now=NOW)
    names = [column["name"] for column in table["columnDefinitions"]]
    cells = table["rows"][0]["cells"]
    assert len(cells) == len(names)
    return dict(zip(names, cells, strict=True))


def pod(
    *,
    containers: int = 1,
    statuses: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    **extra: Any,
) -> dict[str, Any]:
    """A pod created an hour ago with the given container statuses."""
    status: dict[str, Any] = {"phase": phase, "containerStatuses": statuses or []}
    status.update(extra.pop("status", {}))
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "creationTimestamp": ago(hours=1),
            "labels": {"app": "web"},
        },
        "spec": {"containers": [{"name": f"c{i}", "image": "nginx"} for i in range(containers)]},
        "status": status,
    }
    obj["metadata"].update(extra.pop("metadata", {}))
    obj["spec"].update(extra.pop("spec", {}))
    assert not extra
    return obj


def running(*, ready: bool = True, restarts: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "name": "c",
        "ready": ready,
        "restartCount": restarts,
        "state": {"running": {}},
        **extra,
    }


# --- the envelope --------------------------------------------------------------------------


def test_table_envelope_carries_list_metadata_and_all_columns() -> None:
    """A list becomes a meta.k8s.io/v1 Table with the list's resourceVersion and continue."""
    table = to_table("pods", [pod(), pod()], now=NOW, resource_version="42", continue_token="abc")
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "abc"}
    assert [(c["name"], c["priority"]) for c in table["columnDefinitions"]] == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ]
    assert table["columnDefinitions"][0]["format"] == "name"
    assert table["columnDefinitions"][3]["type"] == "string"
    assert len(table["rows"]) == 2


def test_empty_metadata_fields_are_omitted_like_listmeta() -> None:
    """resourceVersion and continue are omitempty; remainingItemCount appears when given."""
    assert to_table("pods", [], now=NOW)["metadata"] == {}
    table = to_table("pods", [], now=NOW, resource_version="7", remaining_item_count=3)
    assert table["metadata"] == {"resourceVersion": "7", "remainingItemCount": 3}
    assert table["rows"] == []


def test_watch_events_after_the_first_carry_no_column_definitions() -> None:
    """no_headers drops the columns but keeps the cells, as the watch encoder does."""
    table = to_table("pods", [pod()], now=NOW, no_headers=True)
    assert table["columnDefinitions"] == []
    assert table["rows"][0]["cells"][0] == "web-1"


def test_column_descriptions_come_from_the_api_docs() -> None:
    """Descriptions are the swagger docs the server registers, e.g. ObjectMeta's."""
    columns = to_table("deployments", [], now=NOW)["columnDefinitions"]
    by_name = {c["name"]: c for c in columns}
    assert by_name["Name"]["description"].startswith("Name must be unique within a namespace.")
    assert "\n\nPopulated by the system. Read-only." in by_name["Age"]["description"]
    assert by_name["Ready"]["description"] == "Number of the pod with ready state"


# --- ages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "shown"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=45), "45s"),
        (timedelta(seconds=119, milliseconds=999), "119s"),
        (timedelta(minutes=2), "2m"),
        (timedelta(minutes=5, seconds=30), "5m30s"),
        (timedelta(minutes=9, seconds=59), "9m59s"),
        (timedelta(minutes=10, seconds=30), "10m"),
        (timedelta(hours=2, minutes=59, seconds=59), "179m"),
        (timedelta(hours=3), "3h"),
        (timedelta(hours=7, minutes=59), "7h59m"),
        (timedelta(hours=8, minutes=30), "8h"),
        (timedelta(hours=47, minutes=59), "47h"),
        (timedelta(hours=48), "2d"),
        (timedelta(days=7, hours=23), "7d23h"),
        (timedelta(days=8, hours=5), "8d"),
        (timedelta(days=729), "729d"),
        (timedelta(days=730), "2y"),
        (timedelta(days=731), "2y1d"),
        (timedelta(days=365 * 8), "8y"),
        (timedelta(seconds=-1, milliseconds=-999), "0s"),
        (timedelta(seconds=-2), "<invalid>"),
    ],
)
def test_human_duration_boundaries(elapsed: timedelta, shown: str) -> None:
    """Durations print with HumanDuration's precision at each unit boundary."""
    assert human_duration(elapsed) == shown


def test_age_column_is_unknown_without_a_creation_timestamp() -> None:
    """translateTimestampSince prints <unknown> for a zero time."""
    obj = pod()
    del obj["metadata"]["creationTimestamp"]
    assert row("pods", obj)["Age"] == "<unknown>"


def test_age_column_is_invalid_for_a_timestamp_in_the_future() -> None:
    """A creation time beyond the two-second skew tolerance prints <invalid>."""
    obj = pod(metadata={"creationTimestamp": ago(seconds=-30)})
    assert row("pods", obj)["Age"] == "<invalid>"


def test_age_accepts_fractional_and_offset_timestamps() -> None:
    """MicroTime-style fractions and +00:00 offsets parse like Z timestamps."""
    obj = pod(metadata={"creationTimestamp": "2025-06-01T11:54:29.123456+00:00"})
    assert row("pods", obj)["Age"] == "5m30s"


# --- pods ----------------------------------------------------------------------------------


def test_crash_looping_pod() -> None:
    """A container in CrashLoopBackOff shows that reason and its restarts with their age."""
    crashed = {
        "name": "c",
        "ready": False,
        "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}},
        "lastState": {
            "terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(seconds=30)}
        },
    }
    shown = row("pods", pod(statuses=[crashed]))
    assert (shown["Ready"], shown["Status"], shown["Restarts"]) == (
        "0/1",
        "CrashLoopBackOff",
        "5 (30s ago)",
    )


def test_oom_killed_pod() -> None:
    """A container just killed for memory shows OOMKilled."""
    killed = {
        "name": "c",
        "ready": False,
        "restartCount": 2,
        "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
        "lastState": {
            "terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": ago(minutes=3)}
        },
    }
    shown = row("pods", pod(statuses=[killed]))
    assert (shown["Ready"], shown["Status"], shown["Restarts"]) == (
        "0/1",
        "OOMKilled",
        "2 (3m ago)",
    )


def test_terminating_pod() -> None:
    """A running pod with a deletion timestamp is Terminating (printers_test test19)."""
    obj = pod(statuses=[running(ready=False)], metadata={"deletionTimestamp": ago(seconds=10)})
    assert row("pods", obj)["Status"] == "Terminating"


def test_pending_pod_being_deleted_is_terminating() -> None:
    """A pending pod with a deletion timestamp is Terminating too (printers_test test20)."""
    obj = pod(phase="Pending", metadata={"deletionTimestamp": ago(seconds=10)})
    assert row("pods", obj)["Status"] == "Terminating"


def test_completed_job_pod() -> None:
    """A succeeded pod reads Completed, 0/1 ready, and carries the Completed row condition."""
    done = {
        "name": "c",
        "ready": False,
        "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
    }
    table = to_table("pods", [pod(phase="Succeeded", statuses=[done])], now=NOW)
    assert table["rows"][0]["cells"][1:4] == ["0/1", "Completed", "0"]
    assert table["rows"][0]["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]


def test_succeeded_pod_being_deleted_stays_completed() -> None:
    """A terminal pod is never Terminating (printers_test test18)."""
    done = {"name": "c", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    obj = pod(phase="Succeeded", statuses=[done], metadata={"deletionTimestamp": ago(seconds=10)})
    assert row("pods", obj)["Status"] == "Completed"


def test_failed_pod_shows_error_and_the_failed_condition() -> None:
    """A failed pod shows the container's Error reason (printers_test test17)."""
    failed = {"name": "c", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
    table = to_table("pods", [pod(phase="Failed", statuses=[failed])], now=NOW)
    assert table["rows"][0]["cells"][2] == "Error"
    assert table["rows"][0]["conditions"][0]["reason"] == "Failed"
    assert table["rows"][0]["conditions"][0]["message"] == "The pod failed."


def test_failed_container_beside_a_completed_one_shows_the_error() -> None:
    """The first container's Completed does not hide another container's failure."""
    done = {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    failed = {"name": "b", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}
    obj = pod(containers=2, phase="Failed", statuses=[done, failed])
    assert row("pods", obj)["Status"] == "Error"


def test_terminated_without_reason_shows_signal_or_exit_code() -> None:
    """A termination without a reason prints Signal:N, else ExitCode:N."""
    signalled = {"name": "c", "state": {"terminated": {"exitCode": 137, "signal": 9}}}
    exited = {"name": "c", "state": {"terminated": {"exitCode": 3}}}
    assert row("pods", pod(statuses=[signalled]))["Status"] == "Signal:9"
    assert row("pods", pod(statuses=[exited]))["Status"] == "ExitCode:3"


def test_pod_on_unreachable_node_is_unknown() -> None:
    """The node controller's NodeLost reason on a deleted pod prints Unknown."""
    obj = pod(
        statuses=[running()],
        metadata={"deletionTimestamp": ago(minutes=1)},
        status={
            "reason": "NodeLost",
            "message": "Node n1 which was running pod web-1 is unresponsive",
        },
    )
    assert row("pods", obj)["Status"] == "Unknown"


def test_not_ready_pod_with_a_completed_container() -> None:
    """One container completed and one running, no Ready condition: NotReady (test6)."""
    done = {
        "name": "a",
        "ready": True,
        "restartCount": 3,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
    }
    shown = row("pods", pod(containers=2, statuses=[done, running(restarts=3)]))
    assert (shown["Ready"], shown["Status"], shown["Restarts"]) == ("1/2", "NotReady", "6")


def test_ready_condition_turns_the_same_pod_back_to_running() -> None:
    """With the pod's Ready condition True the same pod reads Running (test6, second case)."""
    done = {
        "name": "a",
        "ready": True,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
    }
    obj = pod(
        containers=2,
        statuses=[done, running()],
        status={"conditions": [{"type": "Ready", "status": "True"}]},
    )
    assert row("pods", obj)["Status"] == "Running"


def test_running_but_unready_container_is_not_counted_ready() -> None:
    """READY counts only containers both ready and running; the phase stays the status."""
    shown = row("pods", pod(containers=2, statuses=[running(), running(ready=False)]))
    assert (shown["Ready"], shown["Status"]) == ("1/2", "Running")


def test_container_creating_pod() -> None:
    """A pending pod whose container waits to be created shows ContainerCreating."""
    waiting = {"name": "c", "ready": False, "state": {"waiting": {"reason": "ContainerCreating"}}}
    shown = row("pods", pod(phase="Pending", statuses=[waiting]))
    assert (shown["Ready"], shown["Status"], shown["Restarts"]) == ("0/1", "ContainerCreating", "0")


def test_first_container_reason_wins() -> None:
    """Statuses are walked last to first, so the first container's reason shows (test3)."""
    first = {"name": "a", "restartCount": 3, "state": {"waiting": {"reason": "ImagePullBackOff"}}}
    second = {
        "name": "b",
        "restartCount": 3,
        "state": {"terminated": {"reason": "Error", "exitCode": 1}},
    }
    shown = row("pods", pod(containers=2, statuses=[first, second]))
    assert (shown["Ready"], shown["Status"], shown["Restarts"]) == ("0/2", "ImagePullBackOff", "6")


def test_scheduling_gated_pod() -> None:
    """A PodScheduled condition with reason SchedulingGated shows SchedulingGated."""
    obj = pod(
        containers=2,
        phase="Pending",
        status={
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]
        },
    )
    assert row("pods", obj)["Status"] == "SchedulingGated"


def test_pod_reason_overrides_phase() -> None:
    """status.reason (e.g. Evicted) replaces the phase."""
    obj = pod(phase="Failed", status={"reason": "Evicted"})
    assert row("pods", obj)["Status"] == "Evicted"


def test_init_container_progress() -> None:
    """While init containers run, STATUS is Init:<done>/<total> (printers_test test9)."""
    obj = pod(
        phase="Pending",
        spec={"initContainers": [{"name": "i0"}, {"name": "i1"}]},
        status={
            "initContainerStatuses": [
                {"name": "i0", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "i1", "state": {"running": {}}},
            ]
        },
        statuses=[{"name": "c", "state": {"waiting": {"reason": "PodInitializing"}}}],
    )
    shown = row("pods", obj)
    assert (shown["Ready"], shown["Status"]) == ("0/1", "Init:1/2")


def test_init_container_crash_loop() -> None:
    """A crash-looping init container shows Init:CrashLoopBackOff and its restarts."""
    obj = pod(
        phase="Pending",
        spec={"initContainers": [{"name": "migrate"}]},
        status={
            "initContainerStatuses": [
                {
                    "name": "migrate",
                    "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {
                        "terminated": {
                            "exitCode": 1,
                            "reason": "Error",
                            "finishedAt": ago(minutes=5),
                        }
                    },
                }
            ]
        },
        statuses=[{"name": "c", "state": {"waiting": {"reason": "PodInitializing"}}}],
    )
    shown = row("pods", obj)
    assert (shown["Status"], shown["Restarts"]) == ("Init:CrashLoopBackOff", "4 (5m ago)")


def test_failed_init_container_shows_init_error() -> None:
    """An init container that exited non-zero shows Init:<reason>."""
    obj = pod(
        phase="Pending",
        spec={"initContainers": [{"name": "migrate"}]},
        status={
            "initContainerStatuses": [
                {"name": "migrate", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
            ]
        },
    )
    assert row("pods", obj)["Status"] == "Init:Error"


def test_init_restarts_stop_counting_once_initialized() -> None:
    """After init, only app restarts count, with their own age (printers_test test11)."""
    obj = pod(
        spec={"initContainers": [{"name": "i0"}]},
        status={
            "initContainerStatuses": [
                {
                    "name": "i0",
                    "restartCount": 2,
                    "state": {"terminated": {}},
                    "lastState": {"terminated": {"finishedAt": ago(minutes=2)}},
                }
            ]
        },
        statuses=[
            running(
                ready=False,
                restarts=4,
                lastState={"terminated": {"finishedAt": ago(seconds=20)}},
            )
        ],
    )
    shown = row("pods", obj)
    assert (shown["Ready"], shown["Status"], shown["Restarts"]) == ("0/1", "Running", "4 (20s ago)")


def test_sidecars_count_towards_ready_and_restarts() -> None:
    """Restartable init containers add to READY's total and RESTARTS (sidecar test2)."""
    sidecar = {"name": "proxy", "restartPolicy": "Always"}
    obj = pod(
        spec={"initContainers": [sidecar, {**sidecar, "name": "logs"}]},
        status={
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [
                {
                    "name": "proxy",
                    "restartCount": 3,
                    "started": True,
                    "state": {"running": {}},
                    "lastState": {"terminated": {"finishedAt": ago(seconds=10)}},
                },
                {"name": "logs", "started": True, "state": {"running": {}}},
            ],
        },
        statuses=[running(restarts=4, lastState={"terminated": {"finishedAt": ago(seconds=20)}})],
    )
    shown = row("pods", obj)
    assert (shown["Ready"], shown["Status"], shown["Restarts"]) == ("1/3", "Running", "7 (10s ago)")


def test_restart_age_is_the_most_recent_termination() -> None:
    """RESTARTS sums all containers and dates the latest termination (printers_test test14)."""
    statuses = [
        running(restarts=6, lastState={"terminated": {"finishedAt": ago(days=5)}}),
        running(restarts=3, lastState={"terminated": {"finishedAt": ago(days=20)}}),
    ]
    assert row("pods", pod(containers=2, statuses=statuses))["Restarts"] == "9 (5d ago)"


def test_pod_wide_columns() -> None:
    """IP, node, nominated node and passing readiness gates (printers_test wide test1)."""
    obj = pod(
        containers=2,
        statuses=[running(restarts=3), {"name": "b", "restartCount": 3}],
        spec={
            "nodeName": "node-1",
            "readinessGates": [
                {"conditionType": "example.com/lb"},
                {"conditionType": "example.com/dns"},
                {"conditionType": "example.com/fw"},
            ],
        },
        status={
            "podIP": "10.0.0.9",
            "podIPs": [{"ip": "10.0.0.9"}, {"ip": "fd00::9"}],
            "nominatedNodeName": "node-2",
            "conditions": [
                {"type": "example.com/lb", "status": "False"},
                {"type": "example.com/dns", "status": "True"},
            ],
        },
    )
    shown = row("pods", obj)
    assert [shown[c] for c in ("IP", "Node", "Nominated Node", "Readiness Gates")] == [
        "10.0.0.9",
        "node-1",
        "node-2",
        "1/3",
    ]


def test_unscheduled_pod_wide_columns_are_none() -> None:
    """A pod without IP, node or gates prints <none> in each wide column."""
    shown = row("pods", pod(phase="Pending"))
    assert [shown[c] for c in ("IP", "Node", "Nominated Node", "Readiness Gates")] == ["<none>"] * 4


# --- nodes ---------------------------------------------------------------------------------


def node(**extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "node-1",
            "creationTimestamp": ago(days=3, hours=4),
            "labels": {"kubernetes.io/hostname": "node-1"},
        },
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.35.0"},
        },
    }
    for key, value in extra.items():
        obj[key].update(value)
    return obj


def test_cordoned_not_ready_node() -> None:
    """A cordoned node whose kubelet reports not ready: NotReady,SchedulingDisabled."""
    obj = node(
        spec={"unschedulable": True},
        status={"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]},
    )
    shown = row("nodes", obj)
    assert (shown["Status"], shown["Age"], shown["Version"]) == (
        "NotReady,SchedulingDisabled",
        "3d4h",
        "v1.35.0",
    )


def test_unreachable_node_reads_not_ready() -> None:
    """Ready=Unknown (node controller lost the kubelet) prints NotReady, not Unknown."""
    obj = node(status={"conditions": [{"type": "Ready", "status": "Unknown"}]})
    assert row("nodes", obj)["Status"] == "NotReady"


def test_node_without_ready_condition_is_unknown() -> None:
    """With no Ready condition at all the status is Unknown."""
    obj = node(spec={"unschedulable": True}, status={"conditions": []})
    assert row("nodes", obj)["Status"] == "Unknown,SchedulingDisabled"


def test_node_roles_from_labels_sorted() -> None:
    """Roles come from node-role.kubernetes.io/<role> keys and kubernetes.io/role, sorted."""
    labels = {
        "node-role.kubernetes.io/control-plane": "",
        "node-role.kubernetes.io/etcd": "true",
        "node-role.kubernetes.io/": "",
        "kubernetes.io/role": "ingress",
    }
    assert row("nodes", node(metadata={"labels": labels}))["Roles"] == "control-plane,etcd,ingress"
    assert row("nodes", node())["Roles"] == "<none>"


def test_node_wide_columns() -> None:
    """Internal/external IPs, and <unknown> for unreported node info."""
    obj = node(
        status={
            "addresses": [
                {"type": "Hostname", "address": "node-1"},
                {"type": "InternalIP", "address": "192.168.1.10"},
            ],
            "nodeInfo": {"kubeletVersion": "v1.35.0", "osImage": "Debian GNU/Linux 12 (bookworm)"},
        }
    )
    shown = row("nodes", obj)
    assert [
        shown[c]
        for c in ("Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime")
    ] == ["192.168.1.10", "<none>", "Debian GNU/Linux 12 (bookworm)", "<unknown>", "<unknown>"]


# --- workloads -----------------------------------------------------------------------------


def template(*containers: tuple[str, str]) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": n, "image": i} for n, i in containers]}}


def test_deployment_mid_rollout() -> None:
    """READY is ready/desired; UP-TO-DATE and AVAILABLE are integers from status."""
    obj = {
        "metadata": {"name": "web", "creationTimestamp": ago(minutes=7, seconds=5)},
        "spec": {
            "replicas": 3,
            "selector": {
                "matchLabels": {"tier": "fe", "app": "web"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}],
            },
            "template": template(("web", "nginx:1.27"), ("proxy", "envoy:1.30")),
        },
        "status": {"replicas": 4, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2},
    }
    assert list(row("deployments", obj).values()) == [
        "web",
        "2/3",
        1,
        2,
        "7m5s",
        "web,proxy",
        "nginx:1.27,envoy:1.30",
        "app=web,env in (dev,prod),tier=fe",
    ]


def test_deployment_without_replicas_defaults_to_one_and_empty_selector() -> None:
    """Unset replicas print as the API default 1; a fresh deployment has 0 of everything."""
    shown = row("deployments", {"metadata": {"name": "api"}, "spec": {}})
    assert (shown["Ready"], shown["Up-to-date"], shown["Available"], shown["Selector"]) == (
        "0/1",
        0,
        0,
        "",
    )


def test_replicaset_statefulset_daemonset_rows() -> None:
    """Replica counts, ready fractions, node selectors and label selectors as printed."""
    rs = {
        "metadata": {"name": "web-5d8f"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(("web", "nginx")),
        },
        "status": {"replicas": 3, "readyReplicas": 1},
    }
    assert list(row("replicasets", rs).values())[:4] == ["web-5d8f", 3, 3, 1]
    assert row("replicasets", rs)["Selector"] == "app=web"
    sts = {"metadata": {"name": "db"}, "spec": {"replicas": 3}, "status": {"readyReplicas": 2}}
    assert row("statefulsets", sts)["Ready"] == "2/3"
    ds = {
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
            "template": {"spec": {"nodeSelector": {"os": "linux", "arch": "amd64"}}},
        },
        "status": {
            "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3,
            "numberReady": 2,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    }
    shown = row("daemonsets", ds)
    assert [shown[c] for c in ("Desired", "Current", "Ready", "Up-to-date", "Available")] == [
        3,
        3,
        2,
        3,
        2,
    ]
    assert (shown["Node Selector"], shown["Selector"]) == ("arch=amd64,os=linux", "app")


def test_label_selector_without_requirements_prints_none() -> None:
    """FormatLabelSelector prints <none> for an empty selector, <error> for a bad operator."""
    empty = {"metadata": {"name": "rs"}, "spec": {"selector": {}}}
    bad = {
        "metadata": {"name": "rs"},
        "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}},
    }
    assert row("replicasets", empty)["Selector"] == "<none>"
    assert row("replicasets", bad)["Selector"] == "<error>"


def test_completed_job() -> None:
    """A completed job: Complete, succeeded/completions and start-to-finish duration."""
    job = {
        "metadata": {"name": "backup", "creationTimestamp": ago(minutes=3)},
        "spec": {"completions": 1, "parallelism": 1, "template": template(("backup", "restic"))},
        "status": {
            "succeeded": 1,
            "startTime": ago(minutes=3),
            "completionTime": ago(minutes=2, seconds=15),
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    }
    shown = row("jobs", job)
    assert [shown[c] for c in ("Status", "Completions", "Duration", "Age")] == [
        "Complete",
        "1/1",
        "45s",
        "3m",
    ]


def test_running_and_parallel_jobs() -> None:
    """A running job's duration runs to now; a work-queue job prints "of <parallelism>"."""
    job = {
        "metadata": {"name": "q"},
        "spec": {"parallelism": 3},
        "status": {"succeeded": 1, "startTime": ago(seconds=90)},
    }
    shown = row("jobs", job)
    assert [shown[c] for c in ("Status", "Completions", "Duration")] == [
        "Running",
        "1/1 of 3",
        "90s",
    ]
    suspended = {
        "metadata": {"name": "s"},
        "spec": {},
        "status": {"conditions": [{"type": "Suspended", "status": "True"}]},
    }
    assert [row("jobs", suspended)[c] for c in ("Status", "Completions", "Duration")] == [
        "Suspended",
        "0/1",
        "",
    ]


# --- services, events, policy, autoscaling, the rest ---------------------------------------


def test_cluster_ip_service() -> None:
    """Type, the first cluster IP, <none> external IP, ports with protocol, selector."""
    svc = {
        "metadata": {"name": "kube-dns"},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "ports": [
                {"port": 53, "protocol": "UDP"},
                {"port": 53, "protocol": "TCP"},
                {"port": 9153},
            ],
            "selector": {"k8s-app": "kube-dns"},
        },
    }
    shown = row("services", svc)
    assert [shown[c] for c in ("Type", "Cluster-IP", "External-IP", "Port(s)", "Selector")] == [
        "ClusterIP",
        "10.96.0.10",
        "<none>",
        "53/UDP,53/TCP,9153/TCP",
        "k8s-app=kube-dns",
    ]


def test_load_balancer_and_node_port_services() -> None:
    """A load balancer without ingress is <pending>; node ports print port:nodePort."""
    pending = {
        "metadata": {"name": "lb"},
        "spec": {
            "type": "LoadBalancer",
            "clusterIPs": ["10.0.0.5"],
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}],
        },
    }
    shown = row("services", pending)
    assert (shown["External-IP"], shown["Port(s)"], shown["Selector"]) == (
        "<pending>",
        "80:30080/TCP",
        "<none>",
    )
    pending["status"] = {"loadBalancer": {"ingress": [{"ip": "3.4.5.6"}, {"ip": "2.3.4.5"}]}}
    assert row("services", pending)["External-IP"] == "2.3.4.5,3.4.5.6"
    headless = {"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}}
    assert [row("services", headless)[c] for c in ("Type", "Cluster-IP", "Port(s)")] == [
        "ClusterIP",
        "None",
        "<none>",
    ]


def test_core_event() -> None:
    """Last seen, type, reason, kind/name object, message; wide source, first seen, count."""
    event = {
        "metadata": {"name": "web-1.17f3", "namespace": "shop"},
        "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{web}"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container web in pod web-1\n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(minutes=20),
        "lastTimestamp": ago(seconds=40),
        "count": 12,
        "type": "Warning",
    }
    assert list(row("events", event).values()) == [
        "40s",
        "Warning",
        "BackOff",
        "pod/web-1",
        "spec.containers{web}",
        "kubelet, node-1",
        "Back-off restarting failed container web in pod web-1",
        "20m",
        12,
        "web-1.17f3",
    ]


def test_events_k8s_io_event_with_series() -> None:
    """events.k8s.io/v1 fields map onto the same columns; a series sets last seen and count."""
    event = {
        "metadata": {"name": "web.1"},
        "eventTime": "2025-06-01T11:30:00.000000Z",
        "series": {"count": 4, "lastObservedTime": "2025-06-01T11:58:00.000000Z"},
        "reportingController": "healer",
        "reportingInstance": "healer-0",
        "regarding": {"kind": "Deployment", "name": "web"},
        "reason": "ScaledUp",
        "note": "scaled to 4",
        "type": "Normal",
    }
    shown = row("events.events.k8s.io", event)
    assert [
        shown[c] for c in ("Last Seen", "Object", "Source", "Message", "First Seen", "Count")
    ] == [
        "2m",
        "deployment/web",
        "healer, healer-0",
        "scaled to 4",
        "30m",
        4,
    ]


def test_singleton_event_counts_one_and_falls_back_to_event_time() -> None:
    """An event with neither count nor timestamps uses eventTime and counts 1."""
    event = {
        "metadata": {"name": "e"},
        "eventTime": ago(seconds=5),
        "involvedObject": {"kind": "Node"},
    }
    shown = row("events", event)
    assert [shown[c] for c in ("Last Seen", "First Seen", "Count", "Object", "Source")] == [
        "5s",
        "5s",
        1,
        "node",
        "",
    ]


def test_pdb_row() -> None:
    """Min Available / Max Unavailable print the int-or-string, or N/A when unset."""
    pdb = {
        "metadata": {"name": "web"},
        "spec": {"minAvailable": 2},
        "status": {"disruptionsAllowed": 0},
    }
    assert list(row("poddisruptionbudgets", pdb).values())[:4] == ["web", "2", "N/A", 0]
    pct = {
        "metadata": {"name": "db"},
        "spec": {"maxUnavailable": "50%"},
        "status": {"disruptionsAllowed": 1},
    }
    assert list(row("poddisruptionbudgets", pct).values())[:4] == ["db", "N/A", "50%", 1]


def test_hpa_row() -> None:
    """Reference, current/target utilization, min, max and current replicas."""
    hpa = {
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80},
                    },
                }
            ],
        },
        "status": {
            "currentReplicas": 3,
            "currentMetrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": 45}},
                }
            ],
        },
    }
    assert list(row("horizontalpodautoscalers", hpa).values())[:6] == [
        "web",
        "Deployment/web",
        "cpu: 45%/80%",
        "2",
        10,
        3,
    ]


def test_hpa_defaults_and_overflow() -> None:
    """No metrics means the 80% CPU default; more than two metrics end in "+ N more..."."""
    bare: dict[str, Any] = {
        "metadata": {"name": "a"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "maxReplicas": 5},
    }
    assert [row("horizontalpodautoscalers", bare)[c] for c in ("Targets", "MinPods")] == [
        "cpu: <unknown>/80%",
        "1",
    ]
    many = copy.deepcopy(bare)
    many["spec"]["metrics"] = [
        {
            "type": "Resource",
            "resource": {
                "name": "memory",
                "target": {"type": "AverageValue", "averageValue": "500Mi"},
            },
        },
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "rps"},
                "target": {"type": "AverageValue", "averageValue": "10"},
            },
        },
        {
            "type": "External",
            "external": {
                "metric": {"name": "queue"},
                "target": {"type": "AverageValue", "averageValue": "30"},
            },
        },
    ]
    many["status"] = {
        "currentMetrics": [
            {
                "type": "Resource",
                "resource": {"name": "memory", "current": {"averageValue": "312Mi"}},
            }
        ]
    }
    assert (
        row("horizontalpodautoscalers", many)["Targets"]
        == "memory: 312Mi/500Mi, <unknown>/10 + 1 more..."
    )


def test_namespace_configmap_lease_rows() -> None:
    """Namespace phase, configmap key count (data + binaryData), lease holder."""
    ns = {"metadata": {"name": "shop"}, "status": {"phase": "Terminating"}}
    assert list(row("namespaces", ns).values())[:2] == ["shop", "Terminating"]
    cm = {"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert list(row("configmaps", cm).values())[:2] == ["cfg", 3]
    lease = {"metadata": {"name": "healer-leader"}, "spec": {"holderIdentity": "healer-0"}}
    assert list(row("leases", lease).values())[:2] == ["healer-leader", "healer-0"]


# --- includeObject -------------------------------------------------------------------------


def test_metadata_mode_returns_partial_object_metadata() -> None:
    """The default row object is PartialObjectMetadata with namespace and labels for kubectl."""
    obj = pod()
    table = to_table("pods", [obj], now=NOW)
    assert table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }
    assert to_table("pods", [obj], now=NOW, include_object="")["rows"][0]["object"]["kind"] == (
        "PartialObjectMetadata"
    )


def test_object_mode_returns_a_copy_of_the_full_object() -> None:
    """includeObject=Object embeds the whole object, detached from the store's dict."""
    obj = pod()
    embedded = to_table("pods", [obj], now=NOW, include_object="Object")["rows"][0]["object"]
    assert embedded == obj
    embedded["metadata"]["labels"]["app"] = "changed"
    assert obj["metadata"]["labels"]["app"] == "web"


def test_none_mode_sends_a_null_object() -> None:
    """includeObject=None leaves the row object null, as the server encodes it."""
    assert to_table("pods", [pod()], now=NOW, include_object="None")["rows"][0]["object"] is None


def test_unknown_include_object_is_rejected() -> None:
    """Any other includeObject value is a bad request."""
    with pytest.raises(TableOptionsError, match="includeObject"):
        to_table("pods", [pod()], now=NOW, include_object="Everything")


# --- the default table ---------------------------------------------------------------------


def test_resource_without_printer_gets_the_default_table() -> None:
    """Name and Created At (a date in RFC 3339 UTC), like the apiserver's default convertor."""
    widget = {"metadata": {"name": "w1", "creationTimestamp": "2025-06-01T13:30:00+02:00"}}
    table = to_table("widgets.example.com", [widget], now=NOW)
    assert [(c["name"], c["type"], c["format"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", "name"),
        ("Created At", "date", ""),
    ]
    assert table["rows"][0]["cells"] == ["w1", "2025-06-01T11:30:00Z"]


def test_group_qualified_names_find_their_printer() -> None:
    """deployments.apps prints like deployments."""
    columns = to_table("deployments.apps", [], now=NOW)["columnDefinitions"]
    assert [c["name"] for c in columns][:4] == ["Name", "Ready", "Up-to-date", "Available"]


# --- robustness ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "True", "Always", "x"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "metadata",
                    "spec",
                    "status",
                    "name",
                    "state",
                    "terminated",
                    "waiting",
                    "running",
                    "conditions",
                    "containerStatuses",
                    "initContainerStatuses",
                    "containers",
                    "type",
                    "status",
                    "reason",
                    "restartCount",
                    "lastState",
                    "finishedAt",
                    "selector",
                    "metrics",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "series",
                    "count",
                    "labels",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(
    obj=st.dictionaries(
        st.sampled_from(
            [
                "metadata",
                "spec",
                "status",
                "involvedObject",
                "regarding",
                "series",
                "source",
                "data",
                "binaryData",
                "count",
                "eventTime",
                "firstTimestamp",
                "lastTimestamp",
            ]
        ),
        json_values,
    )
)
def test_every_printer_fills_one_cell_per_column(obj: dict[str, Any]) -> None:
    """Malformed objects never crash a printer nor misalign its row."""
    for resource in [*PRINTERS, "widgets"]:
        table = to_table(resource, [obj], now=NOW)
        assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"])
