"""Objects changed outside litemaas-state: the managed fields of each Deployment compared with what the last
apply recorded on it, as Terraform notes "Objects have changed outside of Terraform" after its refresh.

apply writes the annotation ``names.LAST_APPLIED_ANNOTATION`` (``live.model.ManagedFields``: images of
every container and init container, a digest of each env variable, ``restartedAt``, ``replicas``) in the
same patch as each change (apply/kube.py). A later difference means someone ran ``oc set image``,
``oc set env``, ``oc edit``, ``oc rollout restart`` or ``oc scale`` in between. The comparison is
deepdiff's (``DeepDiff(..., view="tree")``: each difference with its path and both values). Replicas are
left out for a Deployment an HPA targets (the HPA owns them; plan/checks.py says so).
Pure: no I/O; the annotation was read by live/kube.py.
"""

from __future__ import annotations

from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import NotPresent

from litemaas_state import names
from litemaas_state.errors import Diagnostic, Severity
from litemaas_state.live.model import LiveState, ManagedFields

#: Diagnostic code of the note (programs reading ``plan --json`` branch on it).
CHANGED_OUTSIDE = "changed_outside"
SUMMARY = "Objects have changed outside litemaas-state"


def _present(value: Any) -> bool:
    return not isinstance(value, NotPresent)


def _describe(path: list[Any], before: Any, after: Any) -> str | None:
    """One line for one deepdiff difference at ``path`` (None: said by another line)."""
    match path:
        case ["images", container]:
            if not _present(before):
                return f"container {container} added (image {after})"
            if not _present(after):
                return f"container {container} removed"
            return f"image of container {container}: {before} -> {after}"
        case ["env", _]:
            return None  # a container added or removed: its images line says it
        case ["env", container, variable]:
            what = "set" if not _present(before) else "removed" if not _present(after) else "changed"
            return f"env {variable} of container {container} {what} (values are not shown)"
        case ["restarted_at"]:
            return f"restartedAt: {before} -> {after} (a rollout restart)"
        case ["replicas"]:
            return f"replicas: {before} -> {after}"
    return f"{'.'.join(str(p) for p in path)} changed"


def differences(recorded: ManagedFields, now: ManagedFields, *, replicas: bool = True) -> list[str]:
    """Each difference from ``recorded`` to ``now`` as one line, sorted; empty when they agree.

    ``replicas=False`` leaves ``replicas`` out (an HPA owns them).
    """
    exclude = {"replicas"} if not replicas else set()
    old, new = recorded.model_dump(exclude=exclude), now.model_dump(exclude=exclude)
    lines = []
    for levels in DeepDiff(old, new, view="tree").values():
        for level in levels:
            line = _describe(level.path(output_format="list"), level.t1, level.t2)
            if line is not None:
                lines.append(line)
    return sorted(lines)


def _note(address: str, lines: list[str]) -> Diagnostic:
    return Diagnostic(
        severity=Severity.NOTE, code=CHANGED_OUTSIDE, address=address, summary=SUMMARY,
        detail=f"{address} differs from what the last apply left "
               f"({names.LAST_APPLIED_ANNOTATION}):\n" + "\n".join(f"  {line}" for line in lines)
               + "\nThis plan sets back what the state file declares and leaves the rest as it is. The note "
                 "stays until litemaas-state next writes this Deployment (that write records the fields as "
                 "they are then).",
    )


def changed_outside(live: LiveState) -> list[Diagnostic]:
    """A note for each managed Deployment whose managed fields differ from its last-applied record."""
    hpa_targets = {h.target_name for h in live.hpas if h.target_kind == "Deployment"}
    out = []
    layout = names.layout(live.layout)
    for component in sorted(live.workloads, key=layout.deployment):
        w, name, address = live.workloads[component], layout.deployment(component), layout.address(component)
        if w.last_applied_invalid:
            out.append(_note(address, [f"the annotation {names.LAST_APPLIED_ANNOTATION} was edited and cannot be read"]))
        elif w.last_applied is not None:
            lines = differences(w.last_applied, w.managed_fields(), replicas=name not in hpa_targets)
            if lines:
                out.append(_note(address, lines))
    return out
