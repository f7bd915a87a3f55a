"""Kubernetes `Status` errors (NotFound, Conflict, AlreadyExists, BadRequest, Invalid).

Source: the apiserver's message wording and `details` shapes (k8s.io/apimachinery
pkg/api/errors/errors.go).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from litemaas_state.sandbox.kubeapi.resources import Obj, Resource


class ApiError(Exception):
    """An error answered as a `Status` object with HTTP code `code`."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _about(res: Resource, name: str) -> dict[str, Any]:
    """A Status's `details` for one object: its name, API group and plural (as the apiserver writes it)."""
    return {"name": name, "group": res.group, "kind": res.plural}


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found', _about(res, name))


def conflict(res: Resource, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {res.qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        _about(res, name),
    )


def already_exists(res: Resource, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{res.qualified} "{name}" already exists', _about(res, name))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


@dataclass(frozen=True)
class FieldError:
    """One cause of an Invalid (422) answer, in apiserver wording."""

    field: str
    reason: str  # FieldValueInvalid | FieldValueRequired | FieldValueDuplicate | FieldValueForbidden
    detail: str

    @staticmethod
    def invalid(field: str, value: Any, why: str) -> FieldError:
        shown = json.dumps(value) if isinstance(value, str) else value
        return FieldError(field, "FieldValueInvalid", f"Invalid value: {shown}: {why}")

    @staticmethod
    def required(field: str) -> FieldError:
        return FieldError(field, "FieldValueRequired", "Required value")

    @staticmethod
    def duplicate(field: str, value: Any) -> FieldError:
        return FieldError(field, "FieldValueDuplicate", f"Duplicate value: {json.dumps(value)}")


def invalid(qualified_kind: str, name: str, errors: list[FieldError]) -> ApiError:
    kind, _, group = qualified_kind.partition(".")
    message = f'{qualified_kind} "{name}" is invalid: ' + ", ".join(f"{e.field}: {e.detail}" for e in errors)
    causes = [{"reason": e.reason, "message": e.detail, "field": e.field} for e in errors]
    return ApiError(422, "Invalid", message, {"name": name, "group": group, "kind": kind, "causes": causes})
