"""The sandbox: a local stand-in for a LiteMaaS deployment on OpenShift.

It serves a Kubernetes API (apps/v1 Deployments with a simulated Deployment controller, ReplicaSets,
Pods, Secrets, OpenShift Routes, Leases, HPAs) over real HTTP, runs its own PostgreSQL cluster and
redis-server, and a LiteLLM admin API held to what LiteLLM 1.81.0 was seen to answer
(shared/reference/litellm-1.81-observed.md).

Boundary: the sandbox imports no product code (enforced by import-linter, pyproject.toml). It declares
its own names from litemaas-facts.md, so a wrong name in the product is not mirrored here.
"""
