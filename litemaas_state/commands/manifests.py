"""`litemaas-state manifests STATE...`: print the in-cluster bundle of each state file for ``oc apply -f -``
(render/manifests.py; the Role from plan/permissions.py). No cluster access: it reads only the state files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from litemaas_state import __version__
from litemaas_state.commands.base import Deps, read_state, state_from_text
from litemaas_state.errors import ConfigError, ExitCode
from litemaas_state.plan.permissions import grants
from litemaas_state.render.manifests import (
    DEFAULT_BACKUP_SIZE,
    DEFAULT_DRIFT_SCHEDULE,
    POD_STATE_DIR,
    bundle_document,
    render_manifests,
)

#: Five cron fields, or one of the macros the CronJob controller accepts (robfig/cron, as Kubernetes uses it).
_CRON = re.compile(r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$")
#: A Kubernetes quantity such as 10Gi or 500M (k8s.io/apimachinery pkg/api/resource).
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class ManifestsOptions:
    """``image``: the container image that holds litemaas-state (the Containerfile's); ``name``: the
    object-name prefix (default ``litemaas-state-<environment>``; only with one state file); schedules
    are cron expressions in UTC; ``backup_size``: the dump claim's size."""

    state_files: tuple[Path, ...]
    image: str
    name: str | None = None
    drift_schedule: str = DEFAULT_DRIFT_SCHEDULE
    prune_schedule: str | None = None
    backup_size: str = DEFAULT_BACKUP_SIZE

    def validate(self) -> list[str]:
        """Every problem with the options at once (docs/design.md §10.10)."""
        problems = []
        if not self.image.strip() or any(c.isspace() for c in self.image):
            problems.append(f"--image {self.image!r} is not an image reference")
        if self.name is not None:
            if len(self.state_files) > 1:
                problems.append("--name names one bundle: give one state file with it")
            if not _DNS_LABEL.match(self.name):
                problems.append(f"--name {self.name!r} must be a DNS label (lower-case letters, digits, '-')")
        for flag, value in (("--drift-schedule", self.drift_schedule), ("--prune-schedule", self.prune_schedule)):
            if value is not None and not _CRON.match(value.strip()):
                problems.append(f"{flag} {value!r} is not a cron schedule (five fields, e.g. '17 * * * *', "
                                "or @hourly/@daily/...)")
        if not _QUANTITY.match(self.backup_size):
            problems.append(f"--backup-size {self.backup_size!r} is not a Kubernetes quantity (e.g. 10Gi)")
        return problems


def run(opts: ManifestsOptions, deps: Deps) -> ExitCode:
    """Print one bundle per state file, in the order given.

    Raises:
        ConfigError: bad options (all named at once), or a bundle that cannot be made (a prune schedule
            without key_retention, a name too long for a CronJob), naming the state file.
        StateFileError: a state file is invalid (file:line:column).
    """
    problems = opts.validate()
    if problems:
        raise ConfigError("; ".join(problems))
    out = []
    for path in opts.state_files:
        state = read_state(path)
        # parsed again at its path in the pod: a relative backup.directory resolves where the pod writes
        in_pod = state_from_text(state.text, Path(POD_STATE_DIR) / f"{state.desired.metadata.name}.yaml")
        try:
            doc = bundle_document(in_pod.desired, state.text, grants=grants(in_pod.desired), image=opts.image,
                                  version=__version__, name=opts.name, drift_schedule=opts.drift_schedule.strip(),
                                  prune_schedule=opts.prune_schedule.strip() if opts.prune_schedule else None,
                                  backup_size=opts.backup_size)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        out.append(render_manifests(doc))
    deps.output.echo("".join(out), nl=False)
    return ExitCode.OK
