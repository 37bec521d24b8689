"""The sandbox's Job controller (healer.sandbox.controllers.jobs).

Covers:
- pods `<job>-<random>` from the template (job labels, controller owner reference), at
  most `parallelism` active and no more than the completions left;
- completion: SuccessCriteriaMet then Complete (CompletionsReached), completionTime,
  the Completed event, and the status fields a 1.35 server shows;
- failures: replaced after the back-off, until `failed > backoffLimit`; FailureTarget then
  Failed (BackoffLimitExceeded) once no pod is terminating; active pods deleted; an
  OnFailure job failing on container restarts; activeDeadlineSeconds;
- a pod deleted by hand counts as failed and is replaced;
- suspend and resume: pods deleted without counting as failures, the Suspended condition
  and events, startTime reset;
- Indexed jobs: one pod per completion index, completedIndexes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest

from healer.sandbox.controllers.jobs import JobController
from healer.sandbox.store import Obj, meta
from tests.unit.sandbox_harness import Harness, condition

FAST = functools.partial(JobController, failure_backoff=0.01, max_failure_backoff=0.05)


@pytest.fixture
def harness() -> Iterator[Harness]:
    with Harness(FAST) as h:
        yield h


def batch(name: str = "batch", **spec: Any) -> dict[str, Any]:
    restart = spec.pop("restartPolicy", "Never")
    return {"metadata": {"name": name},
            "spec": {"template": {"spec": {"containers": [{"name": "work", "image": "busybox"}],
                                           "restartPolicy": restart}}, **spec}}


def active_pods(harness: Harness, job: str = "batch") -> list[Obj]:
    return [p for p in harness.pods(job) if not meta(p).get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]


def finished(harness: Harness, type_: str, job: str = "batch") -> dict[str, Any]:
    """The job's status once it has a True condition of `type_`."""
    def check() -> dict[str, Any]:
        status = harness.status("jobs", job)
        return status if condition(status, type_).get("status") == "True" else {}
    return harness.eventually(check, what=f"job condition {type_}")


def test_job_runs_pods_to_completion(harness: Harness) -> None:
    """Completions 3 with parallelism 2: two pods at a time, then Complete."""
    harness.kubelet.hold = lambda pod: True
    job = harness.create("jobs", batch(completions=3, parallelism=2))
    pods = harness.eventually(lambda: active_pods(harness) if len(harness.pods("batch")) == 2
                              else [])
    harness.settle()
    assert len(harness.pods("batch")) == 2
    for pod in pods:
        assert meta(pod)["name"].startswith("batch-")
        assert len(meta(pod)["name"]) == len("batch-") + 5
        assert meta(pod)["labels"]["batch.kubernetes.io/job-name"] == "batch"
        assert meta(pod)["labels"]["batch.kubernetes.io/controller-uid"] == meta(job)["uid"]
        owner = meta(pod)["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("Job", "batch", True)
    harness.kubelet.hold = lambda pod: False
    harness.kubelet.finish = lambda pod: "Succeeded"
    harness.kick_pods()
    status = finished(harness, "Complete")
    assert len(harness.pods("batch")) == 3
    assert status["succeeded"] == 3
    assert (status["ready"], status["terminating"], status["uncountedTerminatedPods"]) == (
        0, 0, {})
    assert "active" not in status
    assert "failed" not in status
    assert status["startTime"] <= status["completionTime"]
    assert [(c["type"], c["status"], c["reason"], c["message"])
            for c in status["conditions"]] == [
        ("SuccessCriteriaMet", "True", "CompletionsReached",
         "Reached expected number of succeeded pods"),
        ("Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods")]
    assert all(c["lastProbeTime"] and c["lastTransitionTime"] for c in status["conditions"])
    assert harness.messages("Completed") == ["Job completed"]
    assert sorted(harness.messages("SuccessfulCreate")) == sorted(
        f"Created pod: {name}" for name in harness.pod_names("batch"))


def test_running_job_reports_active_and_ready(harness: Harness) -> None:
    """A running job shows active, ready, terminating 0 and a startTime."""
    harness.create("jobs", batch(parallelism=2, completions=4))

    def running() -> dict[str, Any]:
        status = harness.status("jobs", "batch")
        return status if status.get("ready") == 2 else {}

    status = harness.eventually(running)
    assert status["active"] == 2
    assert status["terminating"] == 0
    assert status["uncountedTerminatedPods"] == {}
    assert status["startTime"]
    assert "conditions" not in status


def test_failed_pods_are_replaced_until_the_backoff_limit(harness: Harness) -> None:
    """backoffLimit 2: three pods fail, then FailureTarget and Failed, no completionTime."""
    harness.kubelet.finish = lambda pod: "Failed"
    harness.create("jobs", batch(backoffLimit=2))
    status = finished(harness, "Failed")
    assert status["failed"] == 3
    assert len(harness.pods("batch")) == 3
    assert "completionTime" not in status
    assert [(c["type"], c["reason"], c["message"]) for c in status["conditions"]] == [
        ("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]
    (event,) = harness.events("BackoffLimitExceeded")
    assert (event["type"], event["message"]) == (
        "Warning", "Job has reached the specified backoff limit")
    harness.settle()
    assert len(harness.pods("batch")) == 3


def test_replacement_waits_for_the_failure_backoff() -> None:
    """After a failure the next pod only comes once the back-off has passed."""
    slow = functools.partial(JobController, failure_backoff=1.0)
    with Harness(slow) as harness:
        harness.kubelet.finish = lambda pod: "Failed"
        harness.create("jobs", batch(backoffLimit=3))
        harness.eventually(lambda: harness.status("jobs", "batch").get("failed") == 1)
        harness.settle()
        assert len(harness.pods("batch")) == 1
        harness.eventually(lambda: len(harness.pods("batch")) == 2, timeout=3.0)


def test_failing_job_deletes_its_active_pods_before_it_is_failed(harness: Harness) -> None:
    """The other running pod is deleted; Failed waits until it has terminated."""
    harness.kubelet.linger = lambda pod: True
    harness.create("jobs", batch(parallelism=2, completions=2, backoffLimit=0))
    first, second = harness.eventually(lambda: active_pods(harness) if len(
        active_pods(harness)) == 2 else None)
    harness.kubelet.finish = lambda pod: "Failed" if meta(pod)["uid"] == meta(first)[
        "uid"] else None
    harness.kick_pods()
    status = finished(harness, "FailureTarget")
    harness.settle()
    status = harness.status("jobs", "batch")
    assert condition(status, "Failed") == {}
    assert status["terminating"] == 1
    assert meta(harness.get("pods", meta(second)["name"]) or {}).get("deletionTimestamp")
    harness.kubelet.linger = lambda pod: False
    harness.kick_pods()
    status = finished(harness, "Failed")
    assert status["failed"] == 2
    assert status["terminating"] == 0
    assert f"Deleted pod: {meta(second)['name']}" in harness.messages("SuccessfulDelete")


def test_restarts_of_an_on_failure_job_count_against_the_limit(harness: Harness) -> None:
    """restartPolicy OnFailure: container restarts reaching backoffLimit fail the job."""
    harness.kubelet.hold = lambda pod: True
    harness.create("jobs", batch(backoffLimit=2, restartPolicy="OnFailure"))
    (pod,) = harness.eventually(lambda: active_pods(harness))

    def crash(obj: Obj) -> None:
        obj["status"].update(phase="Running", containerStatuses=[
            {"name": "work", "restartCount": 2, "ready": False}])

    harness.modify("pods", meta(pod)["name"], crash, subresource="status")
    status = finished(harness, "Failed")
    assert condition(status, "Failed")["reason"] == "BackoffLimitExceeded"


def test_active_deadline_fails_the_job(harness: Harness) -> None:
    """activeDeadlineSeconds passing fails the job with DeadlineExceeded."""
    harness.create("jobs", batch(activeDeadlineSeconds=1))
    status = finished(harness, "Failed")
    assert condition(status, "Failed")["reason"] == "DeadlineExceeded"
    assert condition(status, "Failed")["message"] == (
        "Job was active longer than specified deadline")
    assert not active_pods(harness)


def test_pod_deleted_by_hand_counts_as_failed_and_is_replaced(harness: Harness) -> None:
    """Deleting a running job pod (a pod restart) counts a failure and brings a new pod."""
    harness.create("jobs", batch())
    (pod,) = harness.eventually(lambda: active_pods(harness))
    harness.delete("pods", meta(pod)["name"])
    replacement = harness.eventually(lambda: [p for p in active_pods(harness)
                                              if meta(p)["uid"] != meta(pod)["uid"]])
    assert len(replacement) == 1
    harness.eventually(lambda: harness.status("jobs", "batch").get("failed") == 1)


def test_suspend_and_resume(harness: Harness) -> None:
    """Suspending deletes the pods (no failure counted); resuming starts new ones."""
    harness.create("jobs", batch(parallelism=2, completions=2))
    started = harness.eventually(lambda: harness.status("jobs", "batch").get("ready") == 2
                                 and harness.status("jobs", "batch")["startTime"])
    harness.modify("jobs", "batch", lambda job: job["spec"].__setitem__("suspend", True))
    status = harness.eventually(lambda: harness.status("jobs", "batch") if condition(
        harness.status("jobs", "batch"), "Suspended").get("status") == "True"
        and not harness.pods("batch") else None)
    assert condition(status, "Suspended")["reason"] == "JobSuspended"
    assert "active" not in status
    assert "failed" not in status
    assert harness.messages("Suspended") == ["Job suspended"]
    harness.modify("jobs", "batch", lambda job: job["spec"].__setitem__("suspend", False))
    harness.eventually(lambda: len(active_pods(harness)) == 2)
    status = harness.status("jobs", "batch")
    assert (condition(status, "Suspended")["status"],
            condition(status, "Suspended")["reason"]) == ("False", "JobResumed")
    assert status["startTime"] >= started
    assert harness.messages("Resumed") == ["Job resumed"]


def test_job_created_suspended_has_no_pods_and_no_start_time(harness: Harness) -> None:
    """A job created suspended starts nothing until it is resumed."""
    harness.create("jobs", batch(suspend=True))
    status = harness.eventually(lambda: harness.status("jobs", "batch") if condition(
        harness.status("jobs", "batch"), "Suspended") else None)
    assert "startTime" not in status
    assert harness.pods("batch") == []


def test_indexed_job_runs_one_pod_per_index(harness: Harness) -> None:
    """An Indexed job gives indexes 0..n-1 a pod each and reports completedIndexes."""
    harness.kubelet.hold = lambda pod: True
    harness.create("jobs", batch(completions=3, parallelism=3, completionMode="Indexed"))
    pods = harness.eventually(lambda: active_pods(harness) if len(active_pods(harness)) == 3
                              else None)
    indexes = sorted(meta(p)["labels"]["batch.kubernetes.io/job-completion-index"]
                     for p in pods)
    assert indexes == ["0", "1", "2"]
    for pod in pods:
        index = meta(pod)["annotations"]["batch.kubernetes.io/job-completion-index"]
        assert meta(pod)["name"].startswith(f"batch-{index}-")
        assert pod["spec"]["hostname"] == f"batch-{index}"
    harness.kubelet.hold = lambda pod: False
    harness.kubelet.finish = lambda pod: "Succeeded"
    harness.kick_pods()
    status = finished(harness, "Complete")
    assert status["completedIndexes"] == "0-2"
    assert status["succeeded"] == 3
