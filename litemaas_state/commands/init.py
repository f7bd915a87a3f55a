"""`litemaas-state init --from-live --namespace NS [--layout rhpds|kustomize] [--context C] > state/NS.yaml`:
write a state file from what runs now, as Terraform's import with generated configuration does.

There is no state file yet, so the command builds one in memory (``minimal_desired``): the namespace,
context and layout, with ``admins`` and ``key_retention`` present so that ``observe`` reads the LiteMaaS
users and the virtual keys. The layout is the flag's, else the one whose own Deployments exist in the
namespace (``detect_layout``: ``litellm-backend``/``litellm-frontend`` for rhpds, ``backend``/``frontend``
for kustomize; names.LAYOUTS). The observation is tolerant (as ``status``): users or keys that cannot be
read leave their section out with a comment and a warning, the Deployments must be read. The document and
its YAML are render/init.py; before anything is printed the text is parsed back as ``validate`` would
(spec/load.py) and compared with the document, so a file that would not validate or would declare other
values is never written.

stdout holds only the YAML (``> state/NS.yaml`` works); warnings go to stderr. Errors (no such namespace,
a 403, no Deployments of either layout, both layouts at once) are one line, exit 1 (cli.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from pydantic import ValidationError

from litemaas_state import names
from litemaas_state.commands.common import Connections, ConnectOptions, Deps, error_text
from litemaas_state.errors import ConfigError, ExitCode, LitemaasStateError, StateFileError
from litemaas_state.names import LayoutName
from litemaas_state.spec.load import parse_state
from litemaas_state.spec.model import (
    API_VERSION,
    KIND,
    AdminPolicy,
    DesiredState,
    KeyRetention,
    Metadata,
    Target,
)

if TYPE_CHECKING:
    from litemaas_state.render.init import InitDocument


@dataclass(frozen=True)
class InitOptions:
    """``layout`` None: detect it. ``connect.context``: the kubeconfig context, also written as
    ``target.context`` when given."""

    namespace: str
    layout: LayoutName | None = None
    connect: ConnectOptions = ConnectOptions()


def minimal_desired(namespace: str, context: str | None, layout: LayoutName) -> DesiredState:
    """The in-memory state file ``observe`` reads with: no Deployment declared, ``admins`` (no e-mail) and
    ``key_retention`` (no LiteMaaS rows: ``sync_litemaas`` off) present so that users and keys are read.

    Raises:
        ConfigError: the namespace is not a DNS label or the context is too long (one line, the field named).
    """
    try:
        return DesiredState.model_validate({
            "apiVersion": API_VERSION, "kind": KIND, "metadata": Metadata(name=namespace),
            "target": Target(namespace=namespace, context=context, layout=layout),
            "admins": AdminPolicy(), "key_retention": KeyRetention(sync_litemaas=False),
        })
    except ValidationError as exc:
        err = exc.errors()[0]
        field = "--namespace" if "namespace" in map(str, err["loc"]) or "name" in map(str, err["loc"]) else "--context"
        value = namespace if field == "--namespace" else context
        raise ConfigError(f"{field} {value!r}: {str(err['msg']).removeprefix('Value error, ')}") from None


def own_deployments(layout: LayoutName) -> tuple[str, ...]:
    """The Deployment names of ``layout`` that no other layout has (what tells the layouts apart)."""
    others = {n for other in names.LAYOUTS.values() if other.name != layout for n in other.deployments.values()}
    return tuple(n for n in names.layout(layout).deployments.values() if n not in others)


def _listed(found: Mapping[LayoutName, tuple[str, ...]], layout: LayoutName) -> str:
    return f"{layout.value} ({', '.join(f'deployment/{n}' for n in found[layout])})"


def detect_layout(exists: Callable[[str], bool], namespace: str) -> tuple[LayoutName | None, str]:
    """The layout whose own Deployments (``own_deployments``) exist in the namespace.

    Args:
        exists: whether a Deployment of that name exists in the namespace.
        namespace: for the messages.
    Returns:
        (layout, reason for the file's comment), or (None, what was looked for) when no layout matches.
    Raises:
        ConfigError: Deployments of more than one layout exist (naming both; --layout chooses).
    """
    found = {lay: tuple(n for n in own_deployments(lay) if exists(n)) for lay in LayoutName}
    matching = [lay for lay in LayoutName if found[lay]]
    if len(matching) > 1:
        both = " and ".join(_listed(found, lay) for lay in matching)
        raise ConfigError(f"namespace {namespace} holds Deployments of two layouts, {both}: choose one with "
                          f"--layout {'|'.join(lay.value for lay in matching)}")
    if not matching:
        wanted = {lay: own_deployments(lay) for lay in LayoutName}
        return None, " or ".join(_listed(wanted, lay) for lay in LayoutName)
    layout = matching[0]
    return layout, f"auto-detected: {', '.join(f'deployment/{n}' for n in found[layout])} exist"


def _check(text: str, doc: InitDocument) -> None:
    """Parse the written text back as ``validate`` does and compare it with the document.

    Raises:
        LitemaasStateError: it does not validate or declares other values (a bug: nothing is written).
    """
    try:
        parsed = parse_state(text, f"{doc.namespace}.yaml")
    except StateFileError as exc:
        first = exc.diagnostics[0].format() if exc.diagnostics else "invalid"
        raise LitemaasStateError(f"internal error: the state file written would not validate ({first})") from None
    declared = {c: parsed.deployments.get(c) for c in names.Component}
    wanted = {d.component: (d.image, d.replicas) for d in doc.deployments}
    got = {c: (s.image, s.replicas) if s else (None, None) for c, s in declared.items()}
    emails = doc.admins.emails if doc.admins is not None and doc.admins.emails else None
    if (got != wanted or (parsed.admins.emails if parsed.admins else None) != emails
            or parsed.target.namespace != doc.namespace or parsed.target.layout != doc.layout
            or parsed.target.context != doc.context or parsed.key_retention is not None):
        raise LitemaasStateError("internal error: the state file written would not declare what was read")


def run(opts: InitOptions, deps: Deps) -> ExitCode:
    """Observe the namespace, print the state file on stdout and each warning on stderr.

    Raises:
        ConfigError: a bad namespace or context, no such namespace, no Deployments of the layout (or of
        either layout), Deployments of both layouts without --layout. Forbidden / ObserveError: the
        Deployments cannot be read (a 403 names the verb and resource), the API server is unreachable.
    Source: Terraform ``import`` blocks with ``-generate-config-out`` (the first plan of generated
    configuration shows no change); README "Bootstrap from a live deployment".
    """
    from litemaas_state.live.connect import Discovery
    from litemaas_state.live.kube import KubeReader, connect_kube
    from litemaas_state.live.observe import observe
    from litemaas_state.render.init import build_init, render_init

    ns, context = opts.namespace, opts.connect.context
    minimal_desired(ns, context, opts.layout or LayoutName.RHPDS)  # a bad namespace fails before any connection
    kube = connect_kube(ns, context=context, kubeconfig=opts.connect.kubeconfig or None)
    reader = KubeReader(kube)

    @functools.cache
    def exists(name: str) -> bool:
        return reader.raw_deployment(name) is not None

    if opts.layout is not None:
        layout = opts.layout
        reason = "given with --layout"
        _given_layout_present(exists, layout, ns, kube.context, reader.namespace_exists)
    else:
        detected, reason = detect_layout(exists, ns)
        if detected is None:
            _no_deployments(reader.namespace_exists(), ns, kube.context, reason)
        layout = detected or LayoutName.RHPDS
    desired = minimal_desired(ns, context, layout)
    with Connections(kube=kube, discovery=Discovery(opts.connect.data_plane, reader,
                                                    layout=names.layout(layout))) as conns:
        live = observe(desired, reader, conns.discovery, now=deps.now(), tolerant=True)
    doc = build_init(live, layout_reason=reason, context=context)
    text = render_init(doc)
    _check(text, doc)
    for warning in doc.warnings:
        deps.output.echo(f"Warning: {error_text(warning)}", err=True)  # one line: world values in it
    deps.output.echo(text, nl=False)
    return ExitCode.OK


def _given_layout_present(exists: Callable[[str], bool], layout: LayoutName, namespace: str, context: str | None,
                          namespace_exists: Callable[[], bool | None]) -> None:
    """Check that the namespace holds ``layout``'s Deployments when ``--layout`` names it.

    Raises:
        ConfigError: none of its Deployments exist, or its own are absent while another layout's exist
        (naming that layout: the flag is then a mistake).
    """
    every = names.layout(layout).deployments.values()
    if not any(exists(n) for n in every):
        _no_deployments(namespace_exists(), namespace, context,
                        f"{layout.value} ({', '.join(f'deployment/{n}' for n in every)})")
    if any(exists(n) for n in own_deployments(layout)):
        return
    for other in LayoutName:
        found = [n for n in own_deployments(other) if other != layout and exists(n)]
        if found:
            raise ConfigError(
                f"namespace {namespace} holds the Deployments of layout {other.value} "
                f"({', '.join(f'deployment/{n}' for n in found)}), not those of {layout.value} "
                f"({', '.join(f'deployment/{n}' for n in own_deployments(layout))}): use --layout {other.value}")


def _no_deployments(namespace_exists: bool | None, namespace: str, context: str | None, looked_for: str) -> NoReturn:
    """Raise the one-line error for a namespace without the Deployments looked for.

    Raises:
        ConfigError: always; "does not exist" when the API server says so (404 on the Namespace).
    """
    where = f" (context {context})" if context else ""
    if namespace_exists is False:
        raise ConfigError(f"namespace {namespace} does not exist{where}")
    raise ConfigError(f"namespace {namespace}{where} has no Deployments of {looked_for}")
