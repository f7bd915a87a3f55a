"""The sandbox: a local stand-in for a LiteMaaS deployment on OpenShift.

It serves a Kubernetes API (apps/v1 Deployments with a simulated Deployment controller, ReplicaSets,
Pods, Secrets, OpenShift Routes, Leases, HPAs) over real HTTP, runs its own PostgreSQL cluster and
redis-server, and a LiteLLM admin API held to what LiteLLM 1.81.0 was seen to answer
(shared/reference/litellm-1.81-observed.md).

Reaching the data plane the way a cluster forces it: pods/portforward and pods/exec over WebSocket
(`streams.py`), Endpoints/EndpointSlices computed from Ready pods (`endpoints.py`), RBAC for a
restricted token plus an audit log (`rbac.py`, `manage.restricted_kubeconfig`), and
`SandboxOptions(direct_urls=False)` for Secrets that name only in-cluster hosts (`daemon.py`).

Boundary: the sandbox imports no product code (enforced by import-linter, pyproject.toml). It declares
its own names from litemaas-facts.md, so a wrong name in the product is not mirrored here.
"""
