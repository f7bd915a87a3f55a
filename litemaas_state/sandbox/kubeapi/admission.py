"""Admission at write time: defaulting and validation per resource (`ADMISSION`), as the apiserver does.

Source: the defaults and field errors of k8s.io/kubernetes pkg/apis/*/v1/defaults.go and
pkg/apis/*/validation for the fields the sandbox checks.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from litemaas_state.sandbox.kubeapi.resources import Obj, Resource
from litemaas_state.sandbox.kubeapi.selectors import labels_match, parse_label_selector, selector_string
from litemaas_state.sandbox.kubeapi.status import FieldError, bad_request, invalid


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            if not isinstance(c, dict):
                continue
            image = str(c.get("image") or "")
            tag = image.rsplit("/", 1)[-1].partition(":")[2] if "@" not in image else "digest"
            c.setdefault("imagePullPolicy", "Always" if tag in ("", "latest") else "IfNotPresent")
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("resources", {})


def _validate_pod_spec(spec: Any, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if not isinstance(spec, dict):
        return [FieldError.required(path)]
    containers = spec.get("containers")
    if not containers:
        errors.append(FieldError.required(f"{path}.containers"))
    seen: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(key) or []):
            where = f"{path}.{key}[{i}]"
            if not isinstance(c, dict):
                errors.append(FieldError.required(where))
                continue
            name = c.get("name")
            if not name:
                errors.append(FieldError.required(f"{where}.name"))
            elif name in seen:
                errors.append(FieldError.duplicate(f"{where}.name", name))
            else:
                seen.add(name)
            image = c.get("image")
            if not isinstance(image, str) or not image.strip():
                errors.append(FieldError.required(f"{where}.image"))
            elif image != image.strip():
                errors.append(
                    FieldError.invalid(
                        f"{where}.image", image, "must not have leading or trailing whitespace"
                    )
                )
    return errors


def int_field(value: Any, field: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise bad_request(
            f"json: cannot unmarshal {type(value).__name__} into Go struct field {field} of type int32"
        )


def int_at_least(value: Any, field: str, minimum: int, qualified_kind: str, name: str, why: str) -> None:
    """`int_field`, then Invalid (422, FieldError `why` on `field`) when `value` is below `minimum`."""
    int_field(value, field)
    if value < minimum:
        raise invalid(qualified_kind, name, [FieldError.invalid(field, value, why)])


def drop_nulls(value: Any) -> Any:
    """Remove JSON nulls from maps, as decoding into typed Go structs does (e.g. kubectl's
    `"creationTimestamp": null` in a pod template sent by `rollout undo`)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def admit_workload(res: Resource, old: Obj | None, new: Obj) -> None:
    """Default and validate a Deployment/ReplicaSet/StatefulSet as the apiserver does; raises ApiError 422."""
    name = new["metadata"]["name"]
    for part in ("metadata", "spec"):
        if isinstance(new.get(part), dict):
            new[part] = drop_nulls(new[part])
    spec = new.get("spec")
    if not isinstance(spec, dict):
        raise invalid(res.qualified_kind, name, [FieldError.required("spec")])
    int_field(spec.get("replicas"), "spec.replicas")
    spec.setdefault("replicas", 1)
    if res.kind == "Deployment":
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("strategy", {"type": "RollingUpdate"})
        if spec["strategy"].get("type", "RollingUpdate") == "RollingUpdate":
            spec["strategy"]["type"] = "RollingUpdate"
            ru = spec["strategy"].setdefault("rollingUpdate", {})
            ru.setdefault("maxSurge", "25%")
            ru.setdefault("maxUnavailable", "25%")
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        _default_pod_spec(template["spec"])
    errors: list[FieldError] = []
    if spec["replicas"] < 0:
        errors.append(
            FieldError.invalid("spec.replicas", spec["replicas"], "must be greater than or equal to 0")
        )
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        errors.append(FieldError.required("spec.selector"))
    elif isinstance(template, dict):
        labels = (template.get("metadata") or {}).get("labels") or {}
        if not labels_match(labels, parse_label_selector(selector_string(selector))):
            errors.append(
                FieldError.invalid(
                    "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
                )
            )
    if not isinstance(template, dict):
        errors.append(FieldError.required("spec.template"))
    else:
        errors += _validate_pod_spec(template.get("spec"), "spec.template.spec")
    for field in ("revisionHistoryLimit", "progressDeadlineSeconds", "minReadySeconds"):
        value = spec.get(field)
        int_field(value, f"spec.{field}")
        if isinstance(value, int) and value < 0:
            errors.append(FieldError.invalid(f"spec.{field}", value, "must be greater than or equal to 0"))
    pds = spec.get("progressDeadlineSeconds")
    if res.kind == "Deployment" and isinstance(pds, int) and pds <= (spec.get("minReadySeconds") or 0):
        errors.append(
            FieldError.invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds")
        )
    if old is not None and old.get("spec", {}).get("selector") != spec.get("selector"):
        errors.append(FieldError.invalid("spec.selector", spec.get("selector"), "field is immutable"))
    if errors:
        raise invalid(res.qualified_kind, name, errors)


def admit_lease(res: Resource, old: Obj | None, new: Obj) -> None:
    spec = new.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    int_field(duration, "spec.leaseDurationSeconds")
    if isinstance(duration, int) and duration <= 0:
        raise invalid(
            res.qualified_kind,
            new["metadata"]["name"],
            [FieldError.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0")],
        )


def admit_hpa(res: Resource, old: Obj | None, new: Obj) -> None:
    spec = new.get("spec") or {}
    errors = []
    if not spec.get("scaleTargetRef"):
        errors.append(FieldError.required("spec.scaleTargetRef"))
    if not isinstance(spec.get("maxReplicas"), int) or spec["maxReplicas"] < 1:
        errors.append(
            FieldError.invalid("spec.maxReplicas", spec.get("maxReplicas"), "must be greater than 0")
        )
    spec.setdefault("minReplicas", 1)
    if errors:
        raise invalid(res.qualified_kind, new["metadata"]["name"], errors)


def admit_secret(res: Resource, old: Obj | None, new: Obj) -> None:
    string_data = new.pop("stringData", None) or {}
    data = new.setdefault("data", {})
    for k, v in string_data.items():
        data[k] = base64.b64encode(str(v).encode()).decode()
    new.setdefault("type", "Opaque")


def _job_spec(spec: Any, path: str) -> list[FieldError]:
    """Default a batch/v1 JobSpec and return its field errors (pkg/apis/batch/v1/defaults.go, validation)."""
    if not isinstance(spec, dict):
        return [FieldError.required(path)]
    for key, value in (("parallelism", 1), ("completions", 1), ("backoffLimit", 6)):
        int_field(spec.get(key), f"{path}.{key}")
        spec.setdefault(key, value)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    template = spec.get("template")
    if not isinstance(template, dict):
        return [FieldError.required(f"{path}.template")]
    pod = template.get("spec")
    errors = _validate_pod_spec(pod, f"{path}.template.spec")
    if isinstance(pod, dict):
        _default_pod_spec(pod)
        if pod.get("restartPolicy") not in ("Never", "OnFailure"):
            errors.append(
                FieldError(
                    f"{path}.template.spec.restartPolicy",
                    "FieldValueNotSupported",
                    f'Unsupported value: "{pod.get("restartPolicy")}": supported values: "OnFailure", "Never"',
                )
            )
    return errors


def admit_job(res: Resource, old: Obj | None, new: Obj) -> None:
    """Default and validate a Job (spec.template with restartPolicy Never or OnFailure); raises ApiError 422."""
    errors = _job_spec(new.get("spec"), "spec")
    if errors:
        raise invalid(res.qualified_kind, new["metadata"]["name"], errors)


def admit_cronjob(res: Resource, old: Obj | None, new: Obj) -> None:
    """Default and validate a CronJob (schedule and jobTemplate.spec required); raises ApiError 422."""
    spec = new.get("spec")
    errors: list[FieldError] = []
    if not isinstance(spec, dict):
        raise invalid(res.qualified_kind, new["metadata"]["name"], [FieldError.required("spec")])
    if not isinstance(spec.get("schedule"), str) or not spec["schedule"].strip():
        errors.append(FieldError.required("spec.schedule"))
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_template = spec.get("jobTemplate")
    if not isinstance(job_template, dict):
        errors.append(FieldError.required("spec.jobTemplate"))
    else:
        errors += _job_spec(job_template.get("spec"), "spec.jobTemplate.spec")
    if errors:
        raise invalid(res.qualified_kind, new["metadata"]["name"], errors)


ADMISSION: dict[str, Callable[[Resource, Obj | None, Obj], None]] = {
    "apps/deployments": admit_workload,
    "apps/replicasets": admit_workload,
    "apps/statefulsets": admit_workload,
    "coordination.k8s.io/leases": admit_lease,
    "autoscaling/horizontalpodautoscalers": admit_hpa,
    "/secrets": admit_secret,
    "batch/jobs": admit_job,
    "batch/cronjobs": admit_cronjob,
}
