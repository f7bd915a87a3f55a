"""The applier: the only code that writes the world (Kubernetes, databases, LiteLLM API, backup files)."""
