"""The sandbox store's API-server semantics, without HTTP.

Covers: server-filled metadata (uid, monotonic resourceVersion, generation,
creationTimestamp, generateName); generation counting spec changes only; no-op updates
not bumping resourceVersion; 409 on a stale resourceVersion; status-subresource
separation; 404 for a missing namespace and 403 while it terminates; dry-run writes
storing nothing; graceful pod deletion and finalizers; watches — replay of current state,
resume after a resourceVersion, 410 once compacted, and label-selector transitions seen as
ADDED/DELETED; listing as of a past resourceVersion (what `continue` pages read), 410 once
compacted.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from healer.sandbox.admission import admit
from healer.sandbox.resources import ResourceRegistry
from healer.sandbox.selectors import parse_label_selector
from healer.sandbox.status import ApiError
from healer.sandbox.store import Store, Watch, clone

REGISTRY = ResourceRegistry()
PODS = REGISTRY.core("pods")
DEPLOYMENTS = REGISTRY.core("deployments")
NAMESPACES = REGISTRY.core("namespaces")
CONFIGMAPS = REGISTRY.core("configmaps")


@pytest.fixture
def store() -> Store:
    store = Store(admit, history=50)
    store.create(NAMESPACES, {"metadata": {"name": "shop"}})
    return store


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "shop", "labels": labels},
            "spec": {"containers": [{"name": "app", "image": "app:1"}]}}


def deployment(name: str = "web", replicas: int = 1) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "shop"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "a:1"}]}}}}


def drain(watch: Watch) -> list[tuple[str, str]]:
    events = []
    while (event := watch.next(timeout=0.01)) is not None:
        events.append((event[0], event[1]["metadata"]["name"]))
    return events


def test_create_fills_server_metadata(store: Store) -> None:
    """Created objects get a uid, a newer resourceVersion, generation 1 and a timestamp."""
    before = store.resource_version
    created = store.create(DEPLOYMENTS, deployment())
    m = created["metadata"]
    assert len(m["uid"]) == 36
    assert int(m["resourceVersion"]) > before
    assert m["generation"] == 1
    assert m["creationTimestamp"].endswith("Z")
    assert created["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%",
                                                            "maxSurge": "25%"}
    assert created["status"] == {}


def test_create_discards_the_clients_status(store: Store) -> None:
    """A status sent with a create is replaced by the server's initial one."""
    claimed = {**pod("a"), "status": {"phase": "Running", "podIP": "10.0.0.9"}}
    assert store.create(PODS, claimed)["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_generate_name_appends_a_random_suffix(store: Store) -> None:
    """`generateName` yields distinct names with the prefix."""
    first = store.create(PODS, {**pod(""), "metadata": {"generateName": "web-",
                                                         "namespace": "shop"}})
    second = store.create(PODS, {**pod(""), "metadata": {"generateName": "web-",
                                                          "namespace": "shop"}})
    assert first["metadata"]["name"].startswith("web-")
    assert len(first["metadata"]["name"]) == len("web-") + 5
    assert first["metadata"]["name"] != second["metadata"]["name"]


def test_seeded_store_generates_the_same_names() -> None:
    """Two stores with the same seed give generated names in the same sequence."""
    def names(seed: int) -> list[str]:
        store = Store(admit, rng=random.Random(seed))
        store.create(NAMESPACES, {"metadata": {"name": "shop"}})
        template = {"metadata": {"generateName": "web-", "namespace": "shop"},
                    "spec": pod("")["spec"]}
        return [store.create(PODS, template)["metadata"]["name"] for _ in range(5)]

    assert names(11) == names(11)
    assert names(11) != names(12)


def test_generation_counts_spec_changes_only(store: Store) -> None:
    """Labels and status do not bump generation; a spec change does."""
    created = store.create(DEPLOYMENTS, deployment())
    relabelled = clone(created)
    relabelled["metadata"]["labels"] = {"team": "payments"}
    relabelled = store.update(DEPLOYMENTS, relabelled)
    assert relabelled["metadata"]["generation"] == 1
    with_status = clone(relabelled)
    with_status["status"] = {"replicas": 1}
    with_status = store.update(DEPLOYMENTS, with_status, subresource="status")
    assert with_status["metadata"]["generation"] == 1
    scaled = clone(with_status)
    scaled["spec"]["replicas"] = 3
    assert store.update(DEPLOYMENTS, scaled)["metadata"]["generation"] == 2


def test_noop_update_keeps_resource_version(store: Store) -> None:
    """Writing back an unchanged object is not a change."""
    created = store.create(CONFIGMAPS, {"metadata": {"name": "c", "namespace": "shop"},
                                        "data": {"k": "v"}})
    again = store.update(CONFIGMAPS, clone(created))
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_stale_resource_version_is_a_conflict(store: Store) -> None:
    """An update based on an old resourceVersion gets 409 Conflict and changes nothing."""
    created = store.create(CONFIGMAPS, {"metadata": {"name": "c", "namespace": "shop"},
                                        "data": {"k": "v1"}})
    newer = clone(created)
    newer["data"]["k"] = "v2"
    store.update(CONFIGMAPS, newer)
    stale = clone(created)
    stale["data"]["k"] = "v3"
    with pytest.raises(ApiError) as raised:
        store.update(CONFIGMAPS, stale)
    assert raised.value.code == 409
    assert raised.value.reason == "Conflict"
    assert store.get(CONFIGMAPS, "shop", "c")["data"]["k"] == "v2"


def test_status_and_spec_are_written_through_separate_endpoints(store: Store) -> None:
    """The main endpoint ignores status; the status subresource ignores spec."""
    created = store.create(DEPLOYMENTS, deployment())
    both = clone(created)
    both["spec"]["replicas"] = 5
    both["status"] = {"replicas": 5}
    via_main = store.update(DEPLOYMENTS, clone(both))
    assert via_main["spec"]["replicas"] == 5
    assert via_main["status"] == {}
    both["spec"]["replicas"] = 7
    both["metadata"]["resourceVersion"] = via_main["metadata"]["resourceVersion"]
    via_status = store.update(DEPLOYMENTS, both, subresource="status")
    assert via_status["spec"]["replicas"] == 5
    assert via_status["status"] == {"replicas": 5}


def test_objects_need_an_existing_active_namespace(store: Store) -> None:
    """404 for an unknown namespace; 403 while the namespace terminates."""
    with pytest.raises(ApiError) as missing:
        store.create(PODS, {**pod("a"), "metadata": {"name": "a", "namespace": "nope"}})
    assert missing.value.code == 404
    store.delete(NAMESPACES, "", "shop")
    assert store.get(NAMESPACES, "", "shop")["status"]["phase"] == "Terminating"
    with pytest.raises(ApiError) as terminating:
        store.create(PODS, pod("b"))
    assert terminating.value.code == 403


def test_invalid_objects_are_refused_with_every_cause(store: Store) -> None:
    """422 lists each invalid field; nothing is stored."""
    broken = deployment()
    broken["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    broken["spec"]["replicas"] = -1
    with pytest.raises(ApiError) as raised:
        store.create(DEPLOYMENTS, broken)
    assert raised.value.code == 422
    fields = [c["field"] for c in raised.value.details["causes"]]  # type: ignore[index]
    assert fields == ["spec.replicas", "spec.template.metadata.labels"]
    assert store.find(DEPLOYMENTS, "shop", "web") is None


def test_dry_run_writes_store_nothing(store: Store) -> None:
    """A dry-run create, update or delete answers as if done but changes nothing."""
    before = store.resource_version
    answer = store.create(CONFIGMAPS, {"metadata": {"name": "c", "namespace": "shop"}},
                          dry_run=True)
    assert answer["metadata"]["name"] == "c"
    assert store.find(CONFIGMAPS, "shop", "c") is None
    created = store.create(CONFIGMAPS, {"metadata": {"name": "c", "namespace": "shop"}})
    changed = clone(created)
    changed["data"] = {"k": "v"}
    store.update(CONFIGMAPS, changed, dry_run=True)
    store.delete(CONFIGMAPS, "shop", "c", dry_run=True)
    assert store.get(CONFIGMAPS, "shop", "c") == created
    assert store.resource_version == before + 1


def test_running_pods_terminate_gracefully(store: Store) -> None:
    """Deleting a pod bound to a node only marks it; grace 0 removes it."""
    bound = pod("a")
    bound["spec"]["nodeName"] = "node-1"
    store.create(PODS, bound)
    marked, gone = store.delete(PODS, "shop", "a", grace_period=30)
    assert not gone
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    assert store.find(PODS, "shop", "a") is not None
    _, gone = store.delete(PODS, "shop", "a", grace_period=0)
    assert gone
    assert store.find(PODS, "shop", "a") is None


def test_finalizers_hold_a_deleted_object_until_removed(store: Store) -> None:
    """An object with finalizers stays, marked, until its last finalizer goes."""
    store.create(CONFIGMAPS, {"metadata": {"name": "c", "namespace": "shop",
                                           "finalizers": ["example.com/hold"]}})
    marked, gone = store.delete(CONFIGMAPS, "shop", "c")
    assert not gone
    assert marked["metadata"]["deletionTimestamp"]
    released = clone(marked)
    released["metadata"]["finalizers"] = []
    store.update(CONFIGMAPS, released)
    assert store.find(CONFIGMAPS, "shop", "c") is None


def test_watch_replays_state_then_follows_changes(store: Store) -> None:
    """A watch without a resourceVersion starts with ADDED for what exists."""
    store.create(PODS, pod("a"))
    watch = store.watch(PODS, namespace="shop")
    store.create(PODS, pod("b"))
    store.delete(PODS, "shop", "a")
    assert drain(watch) == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    watch.close()


def test_watch_resumes_after_a_resource_version(store: Store) -> None:
    """A watch from resourceVersion N sees exactly the changes after N."""
    store.create(PODS, pod("a"))
    mark = store.resource_version
    store.create(PODS, pod("b"))
    watch = store.watch(PODS, since=mark)
    assert drain(watch) == [("ADDED", "b")]
    watch.close()


def test_watch_from_a_compacted_resource_version_is_gone(store: Store) -> None:
    """Once history has moved past N, a watch from N gets 410 Gone."""
    mark = store.resource_version
    for i in range(60):  # history holds 50 changes per resource
        store.create(PODS, pod(f"p{i}"))
    with pytest.raises(ApiError) as raised:
        store.watch(PODS, since=mark)
    assert raised.value.code == 410


def test_selector_watch_sees_objects_enter_and_leave(store: Store) -> None:
    """Relabelling into a selector is ADDED for that watch, out of it DELETED."""
    store.create(PODS, pod("a", tier="web"))
    watch = store.watch(PODS, labels=parse_label_selector("tier=db"), since=0)
    current = store.get(PODS, "shop", "a")
    for tier in ("db", "cache"):
        moved = clone(current)
        moved["metadata"]["labels"]["tier"] = tier
        current = store.update(PODS, moved)
    assert drain(watch) == [("ADDED", "a"), ("DELETED", "a")]
    watch.close()


def test_select_at_a_resource_version_shows_that_snapshot(store: Store) -> None:
    """Listing at N undoes later creates, updates and deletes; the list's RV is N."""
    store.create(CONFIGMAPS, {"metadata": {"name": "kept", "namespace": "shop"},
                              "data": {"v": "1"}})
    store.create(CONFIGMAPS, {"metadata": {"name": "deleted", "namespace": "shop"}})
    mark = store.resource_version
    kept = clone(store.get(CONFIGMAPS, "shop", "kept"))
    kept["data"] = {"v": "2"}
    store.update(CONFIGMAPS, kept)
    store.delete(CONFIGMAPS, "shop", "deleted")
    store.create(CONFIGMAPS, {"metadata": {"name": "late", "namespace": "shop"}})
    items, rv = store.select(CONFIGMAPS, "shop", at=mark)
    assert rv == mark
    assert [(i["metadata"]["name"], i.get("data")) for i in items] == [
        ("deleted", None), ("kept", {"v": "1"})]
    now, _ = store.select(CONFIGMAPS, "shop")
    assert [i["metadata"]["name"] for i in now] == ["kept", "late"]


def test_select_at_a_compacted_resource_version_is_gone(store: Store) -> None:
    """Once history has moved past N, listing at N gets 410 Gone."""
    mark = store.resource_version
    for i in range(60):  # history holds 50 changes per resource
        store.create(PODS, pod(f"p{i}"))
    with pytest.raises(ApiError) as raised:
        store.select(PODS, "shop", at=mark)
    assert raised.value.code == 410
