"""One table: action verb → symbol, header phrase and colour (Terraform's legend, anchors.md §1.1)."""

from __future__ import annotations

SYMBOL = {"create": "+", "update": "~", "delete": "-"}
LEGEND = {"create": "create", "update": "update in-place", "delete": "destroy"}
COLOR = {"create": "green", "update": "yellow", "delete": "red"}

#: Header phrase per action kind ("# deployment/litellm will be updated in-place").
HEADER = {
    "backup": "will be written (database backup before the image change)",
    "set_image": "will be updated in-place (new image; rollout awaited)",
    "wait_rollout": "rollout in progress: will wait for it",
    "restart": "will be restarted (rolling restart)",
    "scale": "will be scaled",
    "promote_admin": "will be promoted to admin",
    "demote_admin": "will lose the admin role",
    "delete_keys": "will be deleted",
    "revoke_rows": "will be marked revoked in LiteMaaS",
}
