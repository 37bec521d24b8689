"""The API resources the sandbox serves, and the discovery documents built from them.

Everything the HTTP layer (`api`) needs to know about a resource type lives here: its
group/version/kind, plural and short names, whether it is namespaced, which subresources
it has and which server behaviours apply (status subresource, generation, scale). The
store and the controllers address resources through these values, never through strings
scattered around the code.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One served resource, e.g. `apps/v1 deployments`."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = False  # a /status subresource; the main endpoint ignores status
    has_scale: bool = False  # a /scale subresource (autoscaling/v1 Scale)
    has_generation: bool = False  # metadata.generation counts spec changes
    storage: str = ""  # storage key when two API views share one storage (events)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> str:
        """Key of the store partition holding these objects."""
        if self.storage:
            return self.storage
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def describe(self) -> str:
        """`plural.group` as the API server names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


_CORE = ""
_APPS = "apps"

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(_CORE, "v1", "Namespace", "namespaces", "namespace", namespaced=False,
                 short_names=("ns",), has_status=True),
    ResourceType(_CORE, "v1", "Pod", "pods", "pod", namespaced=True, short_names=("po",),
                 categories=("all",), has_status=True, has_generation=True),
    ResourceType(_CORE, "v1", "Node", "nodes", "node", namespaced=False, short_names=("no",),
                 has_status=True),
    ResourceType(_CORE, "v1", "Event", "events", "event", namespaced=True, short_names=("ev",)),
    ResourceType(_CORE, "v1", "Service", "services", "service", namespaced=True,
                 short_names=("svc",), categories=("all",), has_status=True),
    ResourceType(_CORE, "v1", "ConfigMap", "configmaps", "configmap", namespaced=True,
                 short_names=("cm",)),
    ResourceType(_APPS, "v1", "Deployment", "deployments", "deployment", namespaced=True,
                 short_names=("deploy",), categories=("all",), has_status=True,
                 has_scale=True, has_generation=True),
    ResourceType(_APPS, "v1", "ReplicaSet", "replicasets", "replicaset", namespaced=True,
                 short_names=("rs",), categories=("all",), has_status=True, has_scale=True,
                 has_generation=True),
    ResourceType(_APPS, "v1", "StatefulSet", "statefulsets", "statefulset", namespaced=True,
                 short_names=("sts",), categories=("all",), has_status=True, has_scale=True,
                 has_generation=True),
    ResourceType(_APPS, "v1", "DaemonSet", "daemonsets", "daemonset", namespaced=True,
                 short_names=("ds",), categories=("all",), has_status=True,
                 has_generation=True),
    ResourceType("batch", "v1", "Job", "jobs", "job", namespaced=True, categories=("all",),
                 has_status=True, has_generation=True),
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets",
                 "poddisruptionbudget", namespaced=True, short_names=("pdb",),
                 has_status=True, has_generation=True),
    ResourceType("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
                 "horizontalpodautoscaler", namespaced=True, short_names=("hpa",),
                 categories=("all",), has_status=True, has_generation=True),
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", "lease", namespaced=True),
    ResourceType("events.k8s.io", "v1", "Event", "events", "event", namespaced=True,
                 short_names=("ev",), storage="events"),
)


@dataclass(frozen=True)
class Subresource:
    """A subresource listed in discovery, e.g. `pods/eviction`."""

    parent: str
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""


def subresources_of(resource: ResourceType) -> Iterator[Subresource]:
    if resource.has_status:
        yield Subresource(resource.plural, "status", resource.kind, ("get", "patch", "update"))
    if resource.has_scale:
        yield Subresource(resource.plural, "scale", "Scale", ("get", "patch", "update"),
                          group="autoscaling", version="v1")
    if resource.plural == "pods" and resource.group == _CORE:
        yield Subresource("pods", "eviction", "Eviction", ("create",),
                          group="policy", version="v1")


class ResourceRegistry:
    """Looks resource types up by API path parts or by kind."""

    def __init__(self, resources: tuple[ResourceType, ...] = RESOURCES) -> None:
        self.resources = resources
        self._by_path = {(r.group, r.version, r.plural): r for r in resources}
        self._by_kind: dict[tuple[str, str], ResourceType] = {}
        for r in resources:
            self._by_kind.setdefault((r.api_version, r.kind), r)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def for_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def for_object(self, obj: Mapping[str, Any]) -> ResourceType | None:
        return self.for_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))

    def core(self, plural: str) -> ResourceType:
        """The resource of a plural name that is unique across groups (pods, deployments ...)."""
        for r in self.resources:
            if r.plural == plural and not r.storage:
                return r
        raise KeyError(plural)

    def groups(self) -> dict[str, list[str]]:
        """Named API groups → their versions, in registry order."""
        groups: dict[str, list[str]] = {}
        for r in self.resources:
            if r.group and r.version not in groups.setdefault(r.group, []):
                groups[r.group].append(r.version)
        return groups

    # discovery documents ------------------------------------------------------------

    def api_versions(self) -> dict[str, Any]:
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                "serverAddress": "127.0.0.1"}]}

    def api_group_list(self) -> dict[str, Any]:
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [self.api_group(name) for name in self.groups()]}

    def api_group(self, name: str) -> dict[str, Any]:
        versions = [{"groupVersion": f"{name}/{v}", "version": v}
                    for v in self.groups().get(name, [])]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": versions,
                "preferredVersion": versions[0] if versions else {}}

    def api_resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        members = [r for r in self.resources if r.group == group and r.version == version]
        if not members:
            return None
        entries: list[dict[str, Any]] = []
        for r in members:
            entry: dict[str, Any] = {
                "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                "kind": r.kind, "verbs": list(VERBS),
                "storageVersionHash": _storage_hash(r),
            }
            if r.short_names:
                entry["shortNames"] = list(r.short_names)
            if r.categories:
                entry["categories"] = list(r.categories)
            entries.append(entry)
            for sub in subresources_of(r):
                sub_entry: dict[str, Any] = {"name": f"{sub.parent}/{sub.name}",
                                             "singularName": "", "namespaced": r.namespaced,
                                             "kind": sub.kind, "verbs": list(sub.verbs)}
                if sub.group:
                    sub_entry["group"] = sub.group
                    sub_entry["version"] = sub.version
                entries.append(sub_entry)
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version,
                "resources": entries}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_root(registry: ResourceRegistry) -> dict[str, Any]:
    """`/openapi/v3`: where each group-version's document is."""
    versions = {(r.group, r.version) for r in registry.resources}
    paths = {}
    for group, version in sorted(versions):
        path = _gv_path(group, version)
        digest = hashlib.sha256(path.encode()).hexdigest()[:16].upper()
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def openapi_v3_document(registry: ResourceRegistry, group: str,
                        version: str) -> dict[str, Any] | None:
    """A group-version's OpenAPI v3 document, reduced to what clients look for.

    kubectl reads it to learn whether PATCH takes `fieldValidation`; when it does, kubectl
    leaves validation to the server instead of downloading schemas. No schemas are served.
    """
    members = [r for r in registry.resources if r.group == group and r.version == version]
    if not members:
        return None
    parameters = [{"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                  for name in ("dryRun", "fieldManager", "fieldValidation", "force")]
    paths: dict[str, Any] = {}
    for r in members:
        scope = "namespaces/{namespace}/" if r.namespaced else ""
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        paths[f"/{_gv_path(group, version)}/{scope}{r.plural}/{{name}}"] = {
            "patch": {"operationId": f"patch{r.kind}", "x-kubernetes-action": "patch",
                      "x-kubernetes-group-version-kind": gvk, "parameters": parameters,
                      "responses": {"200": {"description": "OK"}}}}
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes (healer sandbox)", "version": "v1.35.0"},
            "paths": paths, "components": {"schemas": {}}}


def _storage_hash(resource: ResourceType) -> str:
    digest = hashlib.sha256(f"{resource.api_version}/{resource.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()
