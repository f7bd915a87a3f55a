"""Deterministic, production-looking data for the sandbox databases.

Everything is drawn from ``random.Random(seed)`` and placed relative to ``now`` (UTC), so one
(seed, now) pair always gives the same rows, token hashes and counts. Shapes follow docs/deployment-facts.md:
users §3.1, api_keys and key rotation §3.2, subscriptions §3.4, audit_logs §3.6, LiteLLM tables §4,
key metadata per creator §6.1 (4), dashboard session keys §5 (``team_id='litellm-dashboard'``).

Population with the default seed (counts are also returned as :class:`SeedSummary`; tests assert them):

LiteMaaS ``users`` (301 rows)
    1 system user ``00000000-0000-0000-0000-000000000001`` (``system``, ``system@litemaas.internal``,
    is_active=false, roles ``{}``); 300 people, of whom 3 admins (roles ``{admin,user}``), 1 read-only
    admin (``{admin-readonly,user}``), 12 inactive. Emails: ``sean.o'brien@example.com`` (apostrophe) and
    6 mixed-case emails (one of them an admin: ``Dana.Whitfield@Example.com``). Every person also has a
    ``"LiteLLM_UserTable"`` row (``proxy_admin`` for admins, else ``internal_user``).

``"LiteLLM_VerificationToken"`` by category (token hashes per category in ``SeedSummary.keys``)
    ============================  ====  ========================================================
    litemaas_live                   90  LiteMaaS key, expires in 5..300 days
    litemaas_never_expires          40  LiteMaaS key, expires NULL
    litemaas_expired                25  LiteMaaS key, expired; api_keys row still is_active
    litemaas_rotated                 2  fresh token with NO key_alias; api_keys keeps the stale alias
    workshop_expired                60  metadata.duration 7d/30d, expired
    workshop_live                   25  metadata.duration 7d/30d, created < 7 days ago, live
    workshop_90d_old                20  duration 90d, created 31..80 days ago, not expired
    workshop_90d_recent             15  duration 90d, created < 30 days ago
    workshop_odd_duration            3  duration "2w" (live), "48h" (live), 30 as a JSON number (expired)
    script_live                     10  scripts/create-user-key.sh: metadata user_email + description
    script_expired                   5  same, expired
    script_never_expires             3  same, expires NULL
    manual_never_expires             5  made by an admin by hand: metadata {}, expires NULL
    dashboard                        6  team_id litellm-dashboard (UI sessions, 24h; 4 expired, 2 live)
    ============================  ====  ========================================================
    = 309 tokens, 303 visible to ``GET /key/list`` (dashboard keys are never listed).

LiteMaaS ``api_keys`` (174 rows)
    157 active rows matching a live token by ``key_hash = token`` (litemaas_live + never_expires +
    expired + rotated); 3 orphans (is_active, token gone from LiteLLM; one has alias
    ``orphaned_<id>``, docs/deployment-facts.md §3.2 backfill); 14 revoked (is_active=false, revoked_at set). Each row has
    ``api_key_models`` rows and an ``API_KEY_CREATE`` audit row; revoked ones an ``API_KEY_REVOKE`` too.

``"LiteLLM_DeletedVerificationToken"`` (41 rows)
    the 14 revoked keys, the 2 pre-rotation tokens (with the alias the api_keys rows still carry),
    the 3 orphans and 22 workshop keys removed by an earlier cleanup run.

``subscriptions``: 1..3 per person over 6 models; every status of subscriptions_status_check occurs.

Must not: print keys; the raw ``sk-`` values live only in ``api_keys.lite_llm_key_value`` (as in LiteMaaS).
"""

from __future__ import annotations

import hashlib
import random
import string
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

SYSTEM_USER_ID = "00000000-0000-0000-0000-000000000001"
DEFAULT_TEAM_ID = "a0000000-0000-4000-8000-000000000001"
DASHBOARD_TEAM_ID = "litellm-dashboard"
MASTER_KEY_USER = "default_user_id"
DEFAULT_SEED = 20261129

MODELS = (
    ("granite-3-3-8b-instruct", "Granite 3.3 8B Instruct", "openai"),
    ("llama-scout-17b", "Llama 4 Scout 17B", "openai"),
    ("mistral-small-24b", "Mistral Small 24B", "openai"),
    ("qwen3-14b", "Qwen3 14B", "openai"),
    ("deepseek-r1-qwen-14b", "DeepSeek R1 Distill Qwen 14B", "openai"),
    ("nomic-embed-text-v1-5", "Nomic Embed Text v1.5", "openai"),
)
SUBSCRIPTION_STATUSES = ("active", "suspended", "cancelled", "expired", "inactive", "pending", "denied")

# (category, count) in generation order; see the module docstring.
KEY_CATEGORIES: tuple[tuple[str, int], ...] = (
    ("litemaas_live", 90),
    ("litemaas_never_expires", 40),
    ("litemaas_expired", 25),
    ("litemaas_rotated", 2),
    ("workshop_expired", 60),
    ("workshop_live", 25),
    ("workshop_90d_old", 20),
    ("workshop_90d_recent", 15),
    ("workshop_odd_duration", 3),
    ("script_live", 10),
    ("script_expired", 5),
    ("script_never_expires", 3),
    ("manual_never_expires", 5),
    ("dashboard", 6),
)
N_PEOPLE = 300
N_INACTIVE = 12
N_ORPHANS = 3
N_REVOKED = 14
N_PREVIOUS_CLEANUP = 22

_FIRST = (
    "alex anna ben carla chen dana david elena emma farah felix grace hana ivan james jana kai laura "
    "leo lina marco maria mei nadia nina omar paul priya raj rosa sam sara sofia tom uma victor wei "
    "yara yusuf zoe"
).split()
_LAST = (
    "adams bauer chen costa dubois evans fischer garcia hansen ito jensen kim kowalski lopez martin "
    "meyer moreau nguyen novak patel petrov rossi sato schmidt silva smith tanaka torres wagner "
    "walker weber whitfield williams wong young zhang"
).split()
_DOMAINS = ("example.com", "example.com", "example.com", "example.org", "partner.example.net")
_KEY_NAMES = (
    "dev-laptop",
    "jupyter",
    "ci pipeline",
    "My Test Key",
    "rag-demo",
    "vscode continue",
    "notebook",
    "eval-harness",
    "agent experiments",
    "prod-chatbot",
)
_WORKSHOPS = (
    "rhoai-lab",
    "summit-llm-101",
    "genai-bootcamp",
    "maas-enablement",
    "partner-day",
    "ai-roadshow",
)


@dataclass(frozen=True)
class SeedSummary:
    """What :func:`seed_databases` wrote, for tests to assert against.

    keys: token hashes per key category (module docstring table); ``dashboard`` is included here but
    never returned by ``GET /key/list``. The other fields are row counts unless named otherwise.
    """

    now: datetime
    seed: int
    users: int
    people: int
    inactive_users: int
    admins: int
    readonly_admins: int
    admin_emails: tuple[str, ...]
    readonly_admin_emails: tuple[str, ...]
    apostrophe_email: str
    mixed_case_emails: tuple[str, ...]
    litellm_users: int
    models: int
    subscriptions: int
    subscriptions_by_status: Mapping[str, int]
    api_keys: int
    api_keys_active: int
    api_keys_revoked: int
    api_keys_orphaned: int
    orphaned_key_hashes: tuple[str, ...]
    rotated_stale_aliases: tuple[str, ...]
    audit_logs: int
    tokens: int
    listed_tokens: int
    expired_listed_tokens: int
    deleted_tokens: int
    keys: Mapping[str, tuple[str, ...]] = field(repr=False)

    def count(self, category: str) -> int:
        """Number of tokens seeded in ``category`` (KeyError for an unknown one)."""
        return len(self.keys[category])


def _ms(dt: datetime) -> datetime:
    """Truncate to milliseconds, the precision of Prisma's TIMESTAMP(3)."""
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def _naive(dt: datetime | None) -> datetime | None:
    """UTC-aware → naive UTC, for LiteLLM's TIMESTAMP(3) WITHOUT TIME ZONE columns."""
    return None if dt is None else dt.astimezone(UTC).replace(tzinfo=None)


def hash_token(raw_key: str) -> str:
    """sha256 hex of a raw ``sk-`` key: LiteLLM's ``token`` (docs/deployment-facts.md §4, ``hash_token``)."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


class _Builder:
    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = _ms(now.astimezone(UTC))
        self.users: list[dict[str, Any]] = []
        self.ltl_users: list[dict[str, Any]] = []
        self.subs: list[dict[str, Any]] = []
        self.tokens: list[dict[str, Any]] = []
        self.deleted: list[dict[str, Any]] = []
        self.api_keys: list[dict[str, Any]] = []
        self.key_models: list[tuple[str, str]] = []
        self.audit: list[dict[str, Any]] = []
        self.keys: dict[str, list[str]] = {name: [] for name, _ in KEY_CATEGORIES}
        self.orphans: list[str] = []
        self.stale_aliases: list[str] = []

    # -- primitives ----------------------------------------------------------------------------
    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def raw_key(self) -> str:
        alphabet = string.ascii_letters + string.digits + "-_"
        return "sk-" + "".join(self.rng.choice(alphabet) for _ in range(22))

    def hex8(self) -> str:
        return f"{self.rng.getrandbits(32):08x}"

    def ago(self, min_days: float, max_days: float) -> datetime:
        return _ms(self.now - timedelta(seconds=self.rng.uniform(min_days * 86400, max_days * 86400)))

    # -- users ---------------------------------------------------------------------------------
    def build_users(self) -> None:
        rng = self.rng
        self.users.append(
            {
                "id": SYSTEM_USER_ID,
                "username": "system",
                "email": "system@litemaas.internal",
                "full_name": "System User",
                "oauth_provider": "system",
                "oauth_id": "system",
                "roles": [],
                "is_active": False,
                "sync_status": "synced",
                "last_login_at": None,
                "created_at": self.ago(200, 200),
            }
        )
        pairs = [(f, lst) for f in _FIRST for lst in _LAST if lst not in ("whitfield",)]
        rng.shuffle(pairs)
        chosen = pairs[: N_PEOPLE - 2]
        people: list[tuple[str, str, str]] = []  # (username, email, full name)
        for first, last in chosen:
            people.append(
                (f"{first}{last}", f"{first}.{last}@{rng.choice(_DOMAINS)}", f"{first} {last}".title())
            )
        # fixed special cases, placed so that index 1 is an admin and the apostrophe user is not
        people.insert(1, ("dwhitfield", "Dana.Whitfield@Example.com", "Dana Whitfield"))
        people.insert(7, ("sobrien", "sean.o'brien@example.com", "Seán O'Brien"))
        for i in (20, 45, 80, 120, 200):
            u, e, n = people[i]
            local, dom = e.split("@")
            people[i] = (u, "@".join([local.title(), dom.upper() if i % 2 else dom]), n)
        inactive = set(rng.sample(range(8, N_PEOPLE), N_INACTIVE))
        for i, (username, email, full_name) in enumerate(people):
            roles = ["admin", "user"] if i < 3 else ["admin-readonly", "user"] if i == 3 else ["user"]
            created = self.ago(30, 400)
            self.users.append(
                {
                    "id": self.uuid(),
                    "username": username,
                    "email": email,
                    "full_name": full_name,
                    "oauth_provider": "openshift",
                    "oauth_id": self.uuid(),
                    "roles": roles,
                    "is_active": i not in inactive,
                    "sync_status": rng.choices(("synced", "pending", "error"), (40, 1, 1))[0],
                    "last_login_at": _ms(created + (self.now - created) * rng.random()),
                    "created_at": created,
                }
            )
        for row in self.users[1:]:
            self.ltl_users.append(
                {
                    "user_id": row["id"],
                    "user_email": row["email"],
                    "user_role": "proxy_admin" if "admin" in row["roles"] else "internal_user",
                    "created_at": _naive(row["created_at"]),
                }
            )

    @property
    def people(self) -> list[dict[str, Any]]:
        return self.users[1:]

    def build_subscriptions(self) -> None:
        rng = self.rng
        model_ids = [m[0] for m in MODELS]
        n = 0
        for u in self.people:
            for model_id in rng.sample(model_ids, rng.randint(1, 3)):
                status = (
                    SUBSCRIPTION_STATUSES[n]
                    if n < len(SUBSCRIPTION_STATUSES)
                    else rng.choices(SUBSCRIPTION_STATUSES, (85, 3, 4, 2, 2, 3, 1))[0]
                )
                self.subs.append(
                    {
                        "id": self.uuid(),
                        "user_id": u["id"],
                        "model_id": model_id,
                        "status": status,
                        "created_at": _ms(u["created_at"] + timedelta(hours=rng.randint(1, 500))),
                    }
                )
                n += 1

    # -- LiteLLM tokens ------------------------------------------------------------------------
    def token_row(
        self,
        raw: str,
        *,
        alias: str | None,
        created: datetime,
        expires: datetime | None,
        metadata: dict[str, Any],
        user_id: str | None = None,
        team_id: str | None = None,
        models: list[str] | None = None,
        max_budget: float | None = None,
    ) -> dict[str, Any]:
        return {
            "token": hash_token(raw),
            "key_name": f"sk-...{raw[-4:]}",
            "key_alias": alias,
            "spend": round(self.rng.uniform(0, 40), 6) if self.rng.random() < 0.6 else 0.0,
            "expires": _naive(expires),
            "models": models or [],
            "user_id": user_id,
            "team_id": team_id,
            "metadata": metadata,
            "max_budget": max_budget,
            "created_at": _naive(created),
            "created_by": MASTER_KEY_USER,
            "updated_at": _naive(created),
            "updated_by": MASTER_KEY_USER,
        }

    def add_token(self, category: str, row: dict[str, Any]) -> None:
        self.tokens.append(row)
        self.keys[category].append(row["token"])

    def add_deleted(self, row: dict[str, Any], deleted_at: datetime) -> None:
        self.deleted.append(
            {
                **row,
                "id": self.uuid(),
                "deleted_at": _naive(deleted_at),
                "deleted_by": MASTER_KEY_USER,
                "deleted_by_api_key": hash_token("sk-master-key-placeholder"),
            }
        )

    def litemaas_key(self, category: str, user: dict[str, Any]) -> None:
        """One key made by LiteMaaS createApiKey (docs/deployment-facts.md §3.2), with its api_keys row."""
        rng = self.rng
        name = rng.choice(_KEY_NAMES)
        alias = f"{name.lower().replace(' ', '-')[:50]}_{self.hex8()}"
        models = rng.sample([m[0] for m in MODELS], rng.randint(1, 3))
        created = self.ago(1, 300) if category != "litemaas_expired" else self.ago(40, 300)
        expires: datetime | None
        if category == "litemaas_never_expires":
            expires = None
        elif category == "litemaas_expired":
            expires = created + timedelta(days=rng.choice((7, 14, 30)))
            if expires >= self.now:
                expires = self.ago(1, 5)
        else:
            expires = self.now + timedelta(days=rng.uniform(5, 300))
            created = min(created, expires - timedelta(days=1))
        expires = _ms(expires) if expires else None
        raw = self.raw_key()
        metadata = {"created_by": "litemaas", "model_count": len(models), "legacy_request": False}
        owner = {"user_id": user["id"], "team_id": DEFAULT_TEAM_ID, "models": models}  # the rotated key's too
        row = self.token_row(
            raw,
            alias=alias,
            created=created,
            expires=expires,
            metadata=metadata,
            max_budget=rng.choice((None, 50.0, 100.0)),
            **owner,
        )
        api_row = {
            "id": self.uuid(),
            "user_id": user["id"],
            "name": name,
            "key_hash": row["token"],
            "key_prefix": raw[:7],
            "lite_llm_key_value": raw,
            "litellm_key_alias": alias,
            "metadata": {"models": models},
            "expires_at": expires,
            "is_active": True,
            "revoked_at": None,
            "sync_status": "synced",
            "sync_error": None,
            "last_sync_at": created,
            "created_at": created,
            "models": models,
        }
        if category == "litemaas_rotated":
            # The pre-rotation key (with the alias) was deleted; the fresh key has no alias (docs/deployment-facts.md §3.2).
            self.add_deleted(row, deleted_at=self.ago(1, 20))
            self.stale_aliases.append(alias)
            new_raw = self.raw_key()
            rotated_at = self.ago(0.5, 1)
            row = self.token_row(new_raw, alias=None, created=rotated_at, expires=expires, metadata=metadata, **owner)
            api_row.update(key_hash=row["token"], key_prefix=new_raw[:7], lite_llm_key_value=new_raw)
        self.add_token(category, row)
        self.api_keys.append(api_row)

    def litemaas_gone_key(self, user: dict[str, Any], *, revoked: bool, orphan_alias: bool) -> None:
        """An api_keys row whose token is no longer in LiteLLM (revoked, or an orphan)."""
        rng = self.rng
        name = rng.choice(_KEY_NAMES)
        alias = f"{name.lower().replace(' ', '-')[:50]}_{self.hex8()}"
        models = rng.sample([m[0] for m in MODELS], rng.randint(1, 2))
        created = self.ago(20, 300)
        raw = self.raw_key()
        row = self.token_row(
            raw,
            alias=alias,
            created=created,
            expires=None,
            metadata={"created_by": "litemaas", "model_count": len(models), "legacy_request": False},
            user_id=user["id"],
            team_id=DEFAULT_TEAM_ID,
            models=models,
        )
        gone_at = _ms(created + (self.now - created) * rng.uniform(0.2, 0.9))
        self.add_deleted(row, deleted_at=gone_at)
        key_id = self.uuid()
        self.api_keys.append(
            {
                "id": key_id,
                "user_id": user["id"],
                "name": name,
                "key_hash": row["token"],
                "key_prefix": raw[:7],
                "lite_llm_key_value": raw,
                "litellm_key_alias": f"orphaned_{key_id}" if orphan_alias else alias,
                "metadata": {"models": models},
                "expires_at": None,
                "is_active": not revoked,
                "revoked_at": gone_at if revoked else None,
                "sync_status": "synced",
                "sync_error": None,
                "last_sync_at": created,
                "created_at": created,
                "models": models,
            }
        )
        if not revoked:
            self.orphans.append(row["token"])

    def workshop_batch(self, category: str, count: int) -> None:
        """Keys from rhpds/litemaas.virtual_keys manage_keys (docs/deployment-facts.md §6.1 (4)): metadata.duration."""
        rng = self.rng
        made = 0
        while made < count:
            size = min(count - made, rng.randint(4, 15))
            dur_days = {"workshop_90d_old": 90, "workshop_90d_recent": 90}.get(category) or rng.choice(
                (7, 30)
            )
            if category == "workshop_expired":
                created = self.ago(dur_days + 1, dur_days + 120)
            elif category == "workshop_live":
                created = self.ago(0.2, 6)
            elif category == "workshop_90d_old":
                created = self.ago(31, 80)
            else:
                created = self.ago(0.5, 29)
            prefix = f"{rng.choice(_WORKSHOPS)}-{created:%m%d}"
            models = rng.sample([m[0] for m in MODELS], rng.randint(1, 3))
            for n in range(1, size + 1):
                c = _ms(created + timedelta(seconds=n * rng.uniform(0.2, 1.5)))
                alias = f"{prefix}-user{n}"
                meta = {
                    "alias": alias,
                    "models": models,
                    "duration": f"{dur_days}d",
                    "models_count": len(models),
                    "user": f"user{n}",
                    "user_number": n,
                }
                row = self.token_row(
                    self.raw_key(),
                    alias=alias,
                    created=c,
                    expires=c + timedelta(days=dur_days),
                    metadata=meta,
                    models=models,
                )
                self.add_token(category, row)
            made += size

    def odd_duration_keys(self) -> None:
        models = ["granite-3-3-8b-instruct"]
        specs: list[tuple[Any, datetime, timedelta]] = [
            ("2w", self.ago(2, 5), timedelta(weeks=2)),
            ("48h", self.ago(0.2, 1), timedelta(hours=48)),
            (30, self.ago(40, 45), timedelta(days=30)),
        ]
        for i, (duration, created, delta) in enumerate(specs, start=1):
            alias = f"odd-duration-{i}"
            meta = {"alias": alias, "models": models, "duration": duration, "models_count": 1}
            row = self.token_row(
                self.raw_key(),
                alias=alias,
                created=created,
                expires=created + delta,
                metadata=meta,
                models=models,
            )
            self.add_token("workshop_odd_duration", row)

    def script_key(self, category: str) -> None:
        """A key from scripts/create-user-key.sh: metadata {user_email, description} (docs/deployment-facts.md §6.1 (4))."""
        rng = self.rng
        user = rng.choice(self.people)
        created = self.ago(1, 200) if category != "script_expired" else self.ago(60, 200)
        if category == "script_never_expires":
            expires = None
        elif category == "script_expired":
            expires = created + timedelta(days=30)
        else:
            expires = self.now + timedelta(days=rng.uniform(3, 120))
        purpose = rng.choice(("demo", "testing", "customer poc", "hackathon", "benchmark"))
        local = user["email"].split("@")[0].lower()
        row = self.token_row(
            self.raw_key(),
            alias=f"{local}-{purpose.replace(' ', '-')}-{self.hex8()[:4]}",
            created=created,
            expires=_ms(expires) if expires else None,
            metadata={"user_email": user["email"], "description": f"Key for {purpose}"},
            models=[m[0] for m in MODELS[:3]],
        )
        self.add_token(category, row)

    def manual_key(self, n: int) -> None:
        row = self.token_row(
            self.raw_key(),
            alias=("ci-smoke-test", "grafana-probe", "load-test", "ops-oncall", "docs-bot")[n % 5],
            created=self.ago(10, 300),
            expires=None,
            metadata={},
        )
        self.add_token("manual_never_expires", row)

    def dashboard_key(self, n: int) -> None:
        admin = self.people[n % 3]
        created = self.ago(2, 40) if n < 4 else self.ago(0.05, 0.9)
        row = self.token_row(
            self.raw_key(),
            alias=None,
            created=created,
            expires=created + timedelta(hours=24),
            metadata={},
            user_id=admin["id"],
            team_id=DASHBOARD_TEAM_ID,
            models=["litellm-proxy"],
        )
        self.add_token("dashboard", row)

    def previous_cleanup(self) -> None:
        before = len(self.tokens)
        self.workshop_batch("workshop_expired", N_PREVIOUS_CLEANUP)
        gone = self.tokens[before:]
        del self.tokens[before:]
        del self.keys["workshop_expired"][-N_PREVIOUS_CLEANUP:]
        for row in gone:
            self.add_deleted(row, deleted_at=_ms(row["expires"].replace(tzinfo=UTC) + timedelta(days=1)))

    def build_keys(self) -> None:
        rng = self.rng
        active = [u for u in self.people if u["is_active"]]
        for category, count in KEY_CATEGORIES:
            if category.startswith("litemaas_"):
                for _ in range(count):
                    self.litemaas_key(category, rng.choice(active))
            elif category == "workshop_odd_duration":
                self.odd_duration_keys()
            elif category.startswith("workshop_"):
                self.workshop_batch(category, count)
            elif category.startswith("script_"):
                for _ in range(count):
                    self.script_key(category)
            elif category == "manual_never_expires":
                for n in range(count):
                    self.manual_key(n)
            elif category == "dashboard":
                for n in range(count):
                    self.dashboard_key(n)
        for i in range(N_ORPHANS):
            self.litemaas_gone_key(rng.choice(active), revoked=False, orphan_alias=i == 0)
        for _ in range(N_REVOKED):
            self.litemaas_gone_key(rng.choice(self.people), revoked=True, orphan_alias=False)
        self.previous_cleanup()
        for k in self.api_keys:
            self.key_models.extend((k["id"], m) for m in k["models"])
            self.audit.append(
                {
                    "user_id": k["user_id"],
                    "action": "API_KEY_CREATE",
                    "resource_type": "API_KEY",
                    "resource_id": k["id"],
                    "metadata": {"keyName": k["name"], "models": k["models"]},
                    "created_at": k["created_at"],
                }
            )
            if k["revoked_at"] is not None:
                self.audit.append(
                    {
                        "user_id": k["user_id"],
                        "action": "API_KEY_REVOKE",
                        "resource_type": "API_KEY",
                        "resource_id": k["id"],
                        "metadata": {"keyName": k["name"]},
                        "created_at": k["revoked_at"],
                    }
                )


def build(now: datetime, seed: int = DEFAULT_SEED) -> _Builder:
    """Compute every row (no I/O). ``now`` must be timezone-aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    b = _Builder(random.Random(seed), now)
    b.build_users()
    b.build_subscriptions()
    b.build_keys()
    return b


_TOKEN_COLS = (
    "token key_name key_alias spend expires models user_id team_id metadata max_budget "
    "created_at created_by updated_at updated_by"
).split()


def _token_values(row: Mapping[str, Any], cols: list[str]) -> tuple[Any, ...]:
    return tuple(Jsonb(row[c]) if c == "metadata" else row[c] for c in cols)


def _write_litemaas(conn: psycopg.Connection, b: _Builder) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO users (id, username, email, full_name, oauth_provider, oauth_id, roles, is_active,"
            " sync_status, last_login_at, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    u["id"],
                    u["username"],
                    u["email"],
                    u["full_name"],
                    u["oauth_provider"],
                    u["oauth_id"],
                    u["roles"],
                    u["is_active"],
                    u["sync_status"],
                    u["last_login_at"],
                    u["created_at"],
                    u["last_login_at"] or u["created_at"],
                )
                for u in b.users
            ],
        )
        cur.execute(
            "INSERT INTO teams (id, name, alias, description, created_by) VALUES (%s, %s, %s, %s, %s)",
            (DEFAULT_TEAM_ID, "Default Team", "default", "Default team for all users", SYSTEM_USER_ID),
        )
        cur.executemany(
            "INSERT INTO models (id, name, provider, litellm_model_id, backend_model_name, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [(mid, name, prov, mid, mid, b.now - timedelta(days=420)) for mid, name, prov in MODELS],
        )
        cur.executemany(
            "INSERT INTO subscriptions (id, user_id, model_id, team_id, status, quota_requests, quota_tokens,"
            " sync_status, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, 10000, 1000000, 'synced', %s, %s)",
            [
                (
                    s["id"],
                    s["user_id"],
                    s["model_id"],
                    DEFAULT_TEAM_ID,
                    s["status"],
                    s["created_at"],
                    s["created_at"],
                )
                for s in b.subs
            ],
        )
        cur.executemany(
            "INSERT INTO api_keys (id, user_id, name, key_hash, key_prefix, lite_llm_key_value,"
            " litellm_key_alias, metadata, expires_at, is_active, revoked_at, sync_status, sync_error,"
            " last_sync_at, migration_status, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'completed', %s, %s)",
            [
                (
                    k["id"],
                    k["user_id"],
                    k["name"],
                    k["key_hash"],
                    k["key_prefix"],
                    k["lite_llm_key_value"],
                    k["litellm_key_alias"],
                    Jsonb(k["metadata"]),
                    k["expires_at"],
                    k["is_active"],
                    k["revoked_at"],
                    k["sync_status"],
                    k["sync_error"],
                    k["last_sync_at"],
                    k["created_at"],
                    k["revoked_at"] or k["created_at"],
                )
                for k in b.api_keys
            ],
        )
        cur.executemany("INSERT INTO api_key_models (api_key_id, model_id) VALUES (%s, %s)", b.key_models)
        cur.executemany(
            "INSERT INTO audit_logs (user_id, action, resource_type, resource_id, metadata, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (
                    a["user_id"],
                    a["action"],
                    a["resource_type"],
                    a["resource_id"],
                    Jsonb(a["metadata"]),
                    a["created_at"],
                )
                for a in b.audit
            ],
        )


def _write_litellm(conn: psycopg.Connection, b: _Builder) -> None:
    cols = list(_TOKEN_COLS)
    collist = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join(["%s"] * len(cols))
    with conn.cursor() as cur:
        cur.executemany(
            'INSERT INTO "LiteLLM_UserTable" (user_id, user_email, user_role, models, metadata, created_at,'
            " updated_at) VALUES (%s, %s, %s, %s, '{}', %s, %s)",
            [
                (u["user_id"], u["user_email"], u["user_role"], [], u["created_at"], u["created_at"])
                for u in b.ltl_users
            ],
        )
        cur.executemany(
            f'INSERT INTO "LiteLLM_VerificationToken" ({collist}) VALUES ({marks})',  # noqa: S608 (fixed columns)
            [_token_values(r, cols) for r in b.tokens],
        )
        dcols = [*cols, "id", "deleted_at", "deleted_by", "deleted_by_api_key"]
        dcollist = ", ".join(f'"{c}"' for c in dcols)
        dmarks = ", ".join(["%s"] * len(dcols))
        cur.executemany(
            f'INSERT INTO "LiteLLM_DeletedVerificationToken" ({dcollist}) VALUES ({dmarks})',  # noqa: S608
            [_token_values(r, dcols) for r in b.deleted],
        )
        cur.executemany(
            'INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at,'
            " applied_steps_count) VALUES (%s, %s, %s, %s, %s, 1)",
            [
                (
                    b.uuid(),
                    hashlib.sha256(name.encode()).hexdigest(),
                    b.now - timedelta(days=days),
                    name,
                    b.now - timedelta(days=days),
                )
                for name, days in (
                    ("0_init", 420),
                    ("20250326162113_baseline", 300),
                    ("20260115000000_v1_81", 60),
                )
            ],
        )


def seed_databases(
    litemaas_conn: psycopg.Connection,
    litellm_conn: psycopg.Connection,
    now: datetime | None = None,
    seed: int = DEFAULT_SEED,
) -> SeedSummary:
    """Write the whole population and commit. In the shared layout pass the same connection twice.

    Args:
        litemaas_conn: connection to the database holding the LiteMaaS schema.
        litellm_conn: connection to the database holding the LiteLLM schema.
        now: reference time (UTC-aware; default: the current time).
        seed: seed of the ``random.Random`` that draws every value.
    Returns:
        SeedSummary with counts and token hashes per category.
    Raises:
        psycopg.Error: a row violates the schema (a bug in the seed).
    """
    b = build(now or datetime.now(UTC), seed)
    _write_litemaas(litemaas_conn, b)
    _write_litellm(litellm_conn, b)
    litemaas_conn.commit()
    if litellm_conn is not litemaas_conn:
        litellm_conn.commit()
    return summarize(b, seed)


def summarize(b: _Builder, seed: int) -> SeedSummary:
    naive_now = _naive(b.now)
    assert naive_now is not None
    listed = [t for t in b.tokens if t["team_id"] != DASHBOARD_TEAM_ID]
    people = b.people
    return SeedSummary(
        now=b.now,
        seed=seed,
        users=len(b.users),
        people=len(people),
        inactive_users=sum(not u["is_active"] for u in people),
        admins=sum("admin" in u["roles"] for u in people),
        readonly_admins=sum("admin-readonly" in u["roles"] for u in people),
        admin_emails=tuple(u["email"] for u in people if "admin" in u["roles"]),
        readonly_admin_emails=tuple(u["email"] for u in people if "admin-readonly" in u["roles"]),
        apostrophe_email=next(u["email"] for u in people if "'" in u["email"]),
        mixed_case_emails=tuple(u["email"] for u in people if u["email"] != u["email"].lower()),
        litellm_users=len(b.ltl_users),
        models=len(MODELS),
        subscriptions=len(b.subs),
        subscriptions_by_status=dict(Counter(s["status"] for s in b.subs)),
        api_keys=len(b.api_keys),
        api_keys_active=sum(k["is_active"] for k in b.api_keys),
        api_keys_revoked=sum(k["revoked_at"] is not None for k in b.api_keys),
        api_keys_orphaned=len(b.orphans),
        orphaned_key_hashes=tuple(b.orphans),
        rotated_stale_aliases=tuple(b.stale_aliases),
        audit_logs=len(b.audit),
        tokens=len(b.tokens),
        listed_tokens=len(listed),
        expired_listed_tokens=sum(t["expires"] is not None and t["expires"] < naive_now for t in listed),
        deleted_tokens=len(b.deleted),
        keys={k: tuple(v) for k, v in b.keys.items()},
    )
