"""Defaulting and validation of every write, as the real API server applies them.

A real API server fills defaults (a Deployment's strategy, a container's pull policy ...)
and refuses invalid objects with 422 Invalid before anything is stored. Clients such as
`kubectl rollout undo` compare templates field by field, so the sandbox must default the
same fields the same way. Only the fields that matter for remediation are covered; the
rest is stored as given.

Neighbour: `store` calls `admit` on every create and update.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from healer.sandbox import status
from healer.sandbox.resources import ResourceType
from healer.sandbox.selectors import SelectorError, label_selector_from_object

Obj = dict[str, Any]
Causes = list[tuple[str, str]]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_NAMED = ("namespaces", "services")  # these names must be DNS-1123 labels


def admit(resource: ResourceType, new: Obj, old: Obj | None) -> None:
    """Default then validate `new` in place; raise 422 Invalid listing every problem."""
    kind = resource.storage_key.split(".")[0]
    if old is None and kind in _INITIAL_STATUS:
        new["status"] = dict(_INITIAL_STATUS[kind])
    defaulter = _DEFAULTERS.get(kind)
    if defaulter is not None:
        defaulter(new, old)
    causes: Causes = []
    _validate_metadata(resource, new, causes)
    validator = _VALIDATORS.get(kind)
    if validator is not None:
        validator(new, causes)
    if kind == "configmaps" and old is not None:
        _validate_configmap_update(new, old, causes)
    if causes:
        name = str((new.get("metadata") or {}).get("name", ""))
        raise status.invalid(resource.kind, name, causes, resource.group)


# metadata ----------------------------------------------------------------------------


# A new object's status: the API server discards what a client sent and serializes the
# zero values of the fields it never omits (the clients' models require them).
_INITIAL_STATUS: dict[str, dict[str, Any]] = {
    "deployments": {},
    "jobs": {},
    "replicasets": {"replicas": 0},
    "statefulsets": {"replicas": 0, "availableReplicas": 0},
    "daemonsets": {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                   "desiredNumberScheduled": 0, "numberReady": 0},
    "poddisruptionbudgets": {"disruptionsAllowed": 0, "currentHealthy": 0,
                             "desiredHealthy": 0, "expectedPods": 0},
    "horizontalpodautoscalers": {"desiredReplicas": 0},
    "services": {"loadBalancer": {}},
}


def _validate_metadata(resource: ResourceType, obj: Obj, causes: Causes) -> None:
    m = obj["metadata"]
    name = m.get("name")
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif not isinstance(name, str):
        causes.append(("metadata.name", "Invalid value: must be a string"))
    else:
        label_only = resource.plural in _LABEL_NAMED and not resource.group
        pattern, limit, what = ((_DNS_LABEL, 63, "RFC 1123 label") if label_only
                                else (_DNS_SUBDOMAIN, 253, "RFC 1123 subdomain"))
        if len(name) > limit or not pattern.match(name):
            causes.append(("metadata.name",
                           f'Invalid value: "{name}": a lowercase {what} must consist of lower '
                           "case alphanumeric characters, '-' or '.', and must start and end "
                           "with an alphanumeric character"))
    for section in ("labels", "annotations"):
        values = m.get(section)
        if values is None:
            continue
        if not isinstance(values, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
            causes.append((f"metadata.{section}", "Invalid value: must map strings to strings"))
            continue
        for key, value in values.items():
            if not _qualified_name(key):
                causes.append((f"metadata.{section}", f'Invalid value: "{key}": name part must '
                               "consist of alphanumeric characters, '-', '_' or '.'"))
            if section == "labels" and (len(value) > 63 or not _LABEL_VALUE.match(value)):
                causes.append(("metadata.labels",
                               f'Invalid value: "{value}": a valid label must be an empty string '
                               "or consist of alphanumeric characters, '-', '_' or '.', and "
                               "must start and end with an alphanumeric character"))


def _qualified_name(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(_LABEL_NAME.match(name))


# pods and templates -------------------------------------------------------------------

_DEFAULT_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
)


def _default_pod_spec(spec: Obj, *, in_pod: bool) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            if not isinstance(container, dict):
                continue
            image = str(container.get("image", ""))
            tag = image.rsplit("/", 1)[-1]
            latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
            container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            container.setdefault("resources", {})
            for port in container.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
    if in_pod:
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        tolerations = spec.setdefault("tolerations", [])
        present = {t.get("key") for t in tolerations if isinstance(t, dict)}
        tolerations.extend(dict(t) for t in _DEFAULT_TOLERATIONS if t["key"] not in present)


def _validate_pod_spec(spec: Any, path: str, causes: Causes) -> None:
    if not isinstance(spec, dict):
        causes.append((path, "Required value"))
        return
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append((f"{path}.containers", "Required value"))
        return
    seen: set[str] = set()
    for i, container in enumerate(containers):
        where = f"{path}.containers[{i}]"
        if not isinstance(container, dict):
            causes.append((where, "Invalid value: must be an object"))
            continue
        name = container.get("name")
        if not isinstance(name, str) or not _DNS_LABEL.match(name):
            causes.append((f"{where}.name", f'Invalid value: "{name}": must be a DNS-1123 label'))
        elif name in seen:
            causes.append((f"{where}.name", f'Duplicate value: "{name}"'))
        else:
            seen.add(name)
        if not container.get("image"):
            causes.append((f"{where}.image", "Required value"))
    policy = spec.get("restartPolicy")
    if policy not in ("Always", "OnFailure", "Never"):
        causes.append((f"{path}.restartPolicy", f'Unsupported value: "{policy}"'))


def _default_pod(obj: Obj, old: Obj | None) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        _default_pod_spec(spec, in_pod=True)
    if old is None:  # the server discards a new pod's status
        obj["status"] = {"phase": "Pending",
                         "qosClass": _qos_class(spec if isinstance(spec, dict) else {})}


def _qos_class(spec: Obj) -> str:
    requests_limits = [(c.get("resources") or {}) for c in spec.get("containers") or []
                       if isinstance(c, dict)]
    if not any(r.get("requests") or r.get("limits") for r in requests_limits):
        return "BestEffort"
    guaranteed = all(
        r.get("limits") and all(k in r["limits"] for k in ("cpu", "memory"))
        and all((r.get("requests") or r["limits"]).get(k) == r["limits"].get(k)
                for k in ("cpu", "memory"))
        for r in requests_limits)
    return "Guaranteed" if guaranteed else "Burstable"


def _validate_pod(obj: Obj, causes: Causes) -> None:
    _validate_pod_spec(obj.get("spec"), "spec", causes)


def _default_template(obj: Obj) -> None:
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        template["metadata"].setdefault("creationTimestamp", None)
        if isinstance(template.get("spec"), dict):
            _default_pod_spec(template["spec"], in_pod=False)


def _validate_workload(obj: Obj, causes: Causes, *, selector_required: bool = True) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        causes.append(("spec", "Required value"))
        return
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
        causes.append(("spec.replicas", f"Invalid value: {replicas}: must be greater than or "
                       "equal to 0"))
    template = spec.get("template")
    if not isinstance(template, dict):
        causes.append(("spec.template", "Required value"))
        return
    _validate_pod_spec(template.get("spec"), "spec.template.spec", causes)
    selector = spec.get("selector")
    if selector is None:
        if selector_required:
            causes.append(("spec.selector", "Required value"))
        return
    try:
        matcher = label_selector_from_object(selector)
    except SelectorError as error:
        causes.append(("spec.selector", f"Invalid value: {error}"))
        return
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        causes.append(("spec.selector", "Invalid value: empty selector is invalid for "
                       "deployment"))
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not matcher.matches(labels):
        causes.append(("spec.template.metadata.labels",
                       f"Invalid value: {labels}: `selector` does not match template `labels`"))


def _default_deployment(obj: Obj, old: Obj | None) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _default_template(obj)


def _default_replicaset(obj: Obj, old: Obj | None) -> None:
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("replicas", 1)
    _default_template(obj)


def _default_statefulset(obj: Obj, old: Obj | None) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("persistentVolumeClaimRetentionPolicy",
                    {"whenDeleted": "Retain", "whenScaled": "Retain"})
    _default_template(obj)


def _default_daemonset(obj: Obj, old: Obj | None) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _default_template(obj)


def _default_job(obj: Obj, old: Obj | None) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1  # with parallelism alone, completions stays unset: a work queue
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy",
                    "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    template = spec.get("template")
    if old is None and isinstance(template, dict) and "selector" not in spec:
        uid = obj["metadata"]["uid"]
        name = obj["metadata"].get("name", "")
        job_labels = {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                      "batch.kubernetes.io/job-name": name, "job-name": name}
        template.setdefault("metadata", {}).setdefault("labels", {}).update(job_labels)
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    _default_template(obj)


def _validate_job(obj: Obj, causes: Causes) -> None:
    _validate_workload(obj, causes)
    template_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") == "Always":
        causes.append(("spec.template.spec.restartPolicy",
                       'Required value: valid values: "OnFailure", "Never"'))


def _default_job_template_policy(obj: Obj, old: Obj | None) -> None:
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        template["spec"].setdefault("restartPolicy", "Never")
    _default_job(obj, old)


def _default_namespace(obj: Obj, old: Obj | None) -> None:
    name = obj["metadata"].get("name")
    if isinstance(name, str):
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _default_service(obj: Obj, old: Obj | None) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if old is not None and "clusterIP" in (old.get("spec") or {}):
        spec.setdefault("clusterIP", old["spec"]["clusterIP"])
    elif spec.get("clusterIP") is None:
        uid_number = int(obj["metadata"]["uid"].replace("-", "")[:8], 16)
        address = ipaddress.IPv4Address("10.96.0.0") + 1 + uid_number % 65000
        spec["clusterIP"] = str(address)
    if spec["clusterIP"] != "None":
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def _validate_configmap_update(new: Obj, old: Obj, causes: Causes) -> None:
    """An immutable ConfigMap keeps its data (and stays immutable); metadata may change."""
    if not old.get("immutable"):
        return
    for field in ("immutable", "data", "binaryData"):
        if new.get(field) != old.get(field):
            causes.append((field, "Forbidden: field is immutable when `immutable` is set"))


def _validate_pdb(obj: Obj, causes: Causes) -> None:
    spec = obj.get("spec") or {}
    if "minAvailable" in spec and "maxUnavailable" in spec:
        causes.append(("spec", "Invalid value: minAvailable and maxUnavailable cannot be both "
                       "set"))


def _default_hpa(obj: Obj, old: Obj | None) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    behavior = spec.setdefault("behavior", {})
    if isinstance(behavior, dict):
        behavior.setdefault("scaleUp", {
            "stabilizationWindowSeconds": 0, "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                         {"type": "Percent", "value": 100, "periodSeconds": 15}]})
        behavior.setdefault("scaleDown", {
            "stabilizationWindowSeconds": 300, "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]})


def _validate_hpa(obj: Obj, causes: Causes) -> None:
    spec = obj.get("spec") or {}
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if not isinstance(high, int) or high < 1:
        causes.append(("spec.maxReplicas", "Required value: must be greater than 0"))
    elif isinstance(low, int) and low > high:
        causes.append(("spec.maxReplicas", f"Invalid value: {high}: must be greater than or "
                       "equal to `minReplicas`"))
    if not isinstance(spec.get("scaleTargetRef"), dict):
        causes.append(("spec.scaleTargetRef", "Required value"))


_DEFAULTERS = {
    "pods": _default_pod,
    "deployments": _default_deployment,
    "replicasets": _default_replicaset,
    "statefulsets": _default_statefulset,
    "daemonsets": _default_daemonset,
    "jobs": _default_job_template_policy,
    "namespaces": _default_namespace,
    "services": _default_service,
    "horizontalpodautoscalers": _default_hpa,
}

_VALIDATORS = {
    "pods": _validate_pod,
    "deployments": _validate_workload,
    "replicasets": _validate_workload,
    "statefulsets": _validate_workload,
    "daemonsets": _validate_workload,
    "jobs": _validate_job,
    "poddisruptionbudgets": _validate_pdb,
    "horizontalpodautoscalers": _validate_hpa,
}
