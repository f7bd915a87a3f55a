"""Renderers: Plan → PlanDocument (the public, versioned, redacted shape) → text, JSON, markdown. Pure."""
