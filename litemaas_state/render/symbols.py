"""One table: action verb → symbol, header phrase and colour (Terraform's legend, docs/design.md §9.1)."""

from __future__ import annotations

from litemaas_state.plan.kinds import SPECS

SYMBOL = {"create": "+", "update": "~", "delete": "-"}
LEGEND = {"create": "create", "update": "update in-place", "delete": "destroy"}
COLOR = {"create": "green", "update": "yellow", "delete": "red"}

#: Header phrase per action kind ("# deployment/litellm will be updated in-place"): each kind's ``header``
#: in plan/kinds.py.
HEADER: dict[str, str] = {kind: s.header for kind, s in SPECS.items()}
