"""The sandbox: a local stand-in for a LiteMaaS deployment on OpenShift.

It serves a Kubernetes API (apps/v1 Deployments with a simulated Deployment controller, ReplicaSets,
Pods, Secrets, OpenShift Routes, Leases, HPAs, and the kinds of an in-cluster bundle: ServiceAccounts
with the TokenRequest API, ConfigMaps, Roles, RoleBindings, CronJobs, Jobs) over real HTTP, and hosts one
or more environments (a namespace each, in the rhpds or the upstream Kustomize layout, `layouts.py`),
each with its own PostgreSQL cluster, redis-server and LiteLLM admin API held to what LiteLLM 1.81.0 was
seen to answer (docs/litellm-api.md).

Reaching the data plane the way a cluster forces it: pods/portforward and pods/exec over WebSocket
(`streams.py`), Endpoints/EndpointSlices computed from Ready pods (`endpoints.py`), RBAC for a
ServiceAccount token from the stored Roles and RoleBindings plus an audit log (`rbac.py`,
`manage.restricted_kubeconfig`), and
`SandboxOptions(direct_urls=False)` for Secrets that name only in-cluster hosts (`daemon.py`).

Boundary: the sandbox imports no product code (import-linter forbids `litemaas_state.*`, pyproject.toml;
tests/test_sandbox_independence.py also walks every import here). It declares its own names from
docs/deployment-facts.md §1, so a wrong name in the product is not mirrored here. Its libraries
(fastapi, uvicorn, jsonpatch, wsproto) are the optional extra `litemaas-state[sandbox]`.
"""
