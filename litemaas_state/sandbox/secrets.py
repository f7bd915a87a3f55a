"""Secret values of one sandbox deployment.

Generated at random by default; a test may pass known values (to scan every output for them).
Source of the secret names and shapes: docs/deployment-facts.md §1.6.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import asdict, dataclass
from pathlib import Path

_ALNUM = string.ascii_letters + string.digits


def _alnum(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


@dataclass(frozen=True)
class SandboxSecrets:
    """Every secret value the sandbox hands out.

    master_key: LiteLLM master key, ``"sk-" + 32 alnum`` (litellm-secret/LITELLM_MASTER_KEY).
    db_password: password of the PostgreSQL role ``litellm`` (litemaas-db/password, inside DATABASE_URL).
    redis_password: ``requirepass`` of the sandbox redis-server.
    jwt_secret, admin_api_key, oauth_client_secret: backend-secret values.
    ui_password: litellm-secret/UI_PASSWORD.
    """

    master_key: str
    db_password: str
    redis_password: str
    jwt_secret: str
    admin_api_key: str
    oauth_client_secret: str
    ui_password: str

    @classmethod
    def generate(cls) -> SandboxSecrets:
        return cls(
            master_key="sk-" + _alnum(32),
            db_password=_alnum(24),
            redis_password=_alnum(24),
            jwt_secret=_alnum(48),
            admin_api_key=_alnum(32),
            oauth_client_secret=_alnum(32),
            ui_password=_alnum(16),
        )

    @classmethod
    def from_file(cls, path: Path) -> SandboxSecrets:
        """Read known values from a JSON object with the field names above (missing fields are generated)."""
        data = json.loads(path.read_text())
        base = asdict(cls.generate())
        base.update({k: v for k, v in data.items() if k in base})
        return cls(**base)

    def values(self) -> list[str]:
        return list(asdict(self).values())
