"""The sandbox LiteLLM API against every behaviour in docs/litellm-api.md and docs/deployment-facts.md §5."""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from typing import Any

import pytest

from litemaas_state.sandbox.litellm_api import format_datetime

from .conftest import Sandbox

# The field names and order of one key in the observed GET /key/list?return_full_object=true response.
OBSERVED_FULL_OBJECT = (
    "token key_name key_alias spend max_budget expires models aliases config user_id team_id "
    "max_parallel_requests metadata tpm_limit rpm_limit budget_duration budget_reset_at allowed_cache_controls "
    "allowed_routes permissions model_spend model_max_budget soft_budget_cooldown blocked litellm_budget_table "
    "org_id created_at created_by updated_at updated_by object_permission_id object_permission rotation_count "
    "auto_rotate rotation_interval last_rotation_at key_rotation_at router_settings team_spend team_alias "
    "team_tpm_limit team_rpm_limit team_max_budget team_models team_blocked soft_budget team_model_aliases "
    "team_member team_metadata team_object_permission_id team_member_spend team_member_tpm_limit "
    "team_member_rpm_limit end_user_id end_user_tpm_limit end_user_rpm_limit end_user_max_budget "
    "organization_max_budget organization_tpm_limit organization_rpm_limit organization_metadata "
    "last_refreshed_at api_key user_role allowed_model_region parent_otel_span rpm_limit_per_model "
    "tpm_limit_per_model user_tpm_limit user_rpm_limit user_email user_spend user_max_budget request_route user"
).split()
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")
NO_KEYS_404 = {
    "error": {
        "message": "{'error': 'No keys found'}",
        "type": "internal_server_error",
        "param": "None",
        "code": "404",
    }
}
VT = '"LiteLLM_VerificationToken"'


def _gen(sbx: Sandbox, **body: Any) -> dict[str, Any]:
    body.setdefault("key_alias", f"t-{uuid.uuid4().hex[:12]}")
    r = sbx.http.post("/key/generate", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _visible_count(sbx: Sandbox) -> int:
    with sbx.litellm() as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {VT} WHERE team_id IS DISTINCT FROM 'litellm-dashboard'"  # noqa: S608
        ).fetchone()
    assert row is not None
    return int(row[0])


# -- auth ---------------------------------------------------------------------------------------


def test_no_key_is_401_auth_error(sbx: Sandbox) -> None:
    with sbx.anon() as c:
        for r in (c.get("/key/list"), c.post("/key/delete", json={"keys": ["x"]}), c.get("/key/info?key=x")):
            assert r.status_code == 401
            assert r.json() == {
                "error": {
                    "message": "Authentication Error, No api key passed in.",
                    "type": "auth_error",
                    "param": "None",
                    "code": "401",
                }
            }


def test_wrong_key_is_401_token_not_found(sbx: Sandbox) -> None:
    wrong = "sk-wrong-master-000"
    with sbx.anon() as c:
        r = c.get("/key/list", headers={"Authorization": f"Bearer {wrong}"})
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["type"] == "token_not_found_in_db" and err["param"] == "key" and err["code"] == "401"
    assert err["message"] == (
        "Authentication Error, Invalid proxy server token passed. Received API Key = sk-...-000, Key Hash (Token) ="
        f"{hashlib.sha256(wrong.encode()).hexdigest()}. Unable to find token in cache or "
        "`LiteLLM_VerificationTokenTable`"
    )
    assert sbx.secrets.master_key not in r.text


def test_x_litellm_api_key_header_is_accepted(sbx: Sandbox) -> None:
    with sbx.anon() as c:
        r = c.get("/key/list", headers={"x-litellm-api-key": sbx.secrets.master_key})
    assert r.status_code == 200


def test_expired_virtual_key_is_400(sbx: Sandbox) -> None:
    token = sbx.dp.seed.keys["litemaas_expired"][0]
    with sbx.litemaas() as conn:
        row = conn.execute("SELECT lite_llm_key_value FROM api_keys WHERE key_hash = %s", (token,)).fetchone()
    assert row is not None
    with sbx.anon() as c:
        r = c.get("/key/list", headers={"Authorization": f"Bearer {row[0]}"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "expired_key" and err["code"] == "400" and err["param"] == f"sk-...{row[0][-4:]}"
    assert err["message"].startswith("Authentication Error - Expired Key. Key Expiry time ")


def test_live_virtual_key_is_not_admitted_to_admin_routes(sbx: Sandbox) -> None:
    raw = _gen(sbx)["key"]
    with sbx.anon() as c:
        r = c.get("/key/list", headers={"Authorization": f"Bearer {raw}"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "auth_error"


# -- health -------------------------------------------------------------------------------------


def test_health_endpoints(sbx: Sandbox) -> None:
    with sbx.anon() as c:
        for path in ("/health/liveliness", "/health/liveness"):
            r = c.get(path)
            assert r.status_code == 200 and r.json() == "I'm alive!"
            assert r.headers["content-type"] == "application/json"
        r = c.get("/health/readiness")
        assert r.status_code == 200
        body = r.json()
        assert list(body) == [
            "status",
            "db",
            "cache",
            "litellm_version",
            "success_callbacks",
            "use_aiohttp_transport",
            "last_updated",
        ]
        assert (body["status"], body["db"], body["cache"], body["litellm_version"]) == (
            "connected",
            "connected",
            None,
            "1.81.0",
        )
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", body["last_updated"])
        for client in (c, sbx.http):
            r = client.get("/health/livenessz")
            assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    assert sbx.http.get("/health/readiness").json()["db"] == "connected"


# -- /key/list ----------------------------------------------------------------------------------


def test_list_defaults_and_token_only_shape(sbx: Sandbox) -> None:
    r = sbx.http.get("/key/list")
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["keys", "total_count", "current_page", "total_pages"]
    total = _visible_count(sbx)
    assert (
        body["total_count"] == total
        and body["current_page"] == 1
        and body["total_pages"] == math.ceil(total / 10)
    )
    assert len(body["keys"]) == 10 and all(re.fullmatch(r"[0-9a-f]{64}", k) for k in body["keys"])


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        (
            {"size": 101},
            {
                "type": "less_than_equal",
                "loc": ["query", "size"],
                "msg": "Input should be less than or equal to 100",
                "input": "101",
                "ctx": {"le": 100},
            },
        ),
        (
            {"size": 0},
            {
                "type": "greater_than_equal",
                "loc": ["query", "size"],
                "msg": "Input should be greater than or equal to 1",
                "input": "0",
                "ctx": {"ge": 1},
            },
        ),
        (
            {"page": 0},
            {
                "type": "greater_than_equal",
                "loc": ["query", "page"],
                "msg": "Input should be greater than or equal to 1",
                "input": "0",
                "ctx": {"ge": 1},
            },
        ),
    ],
)
def test_list_422(sbx: Sandbox, query: dict[str, int], detail: dict[str, Any]) -> None:
    r = sbx.http.get("/key/list", params=query)
    assert r.status_code == 422 and r.json() == {"detail": [detail]}


def test_list_paging_order_and_dashboard_exclusion(sbx: Sandbox) -> None:
    size = 47
    first = sbx.http.get("/key/list", params={"size": size}).json()
    pages = first["total_pages"]
    assert pages == math.ceil(first["total_count"] / size)
    seen: list[str] = []
    for page in range(1, pages + 2):
        body = sbx.http.get("/key/list", params={"size": size, "page": page}).json()
        assert body["current_page"] == page
        seen += body["keys"]
        if page > pages:
            assert body["keys"] == []
    with sbx.litellm() as conn:
        expected = [
            r[0]
            for r in conn.execute(
                f"SELECT token FROM {VT} WHERE team_id IS DISTINCT FROM 'litellm-dashboard'"  # noqa: S608
                " ORDER BY created_at DESC, token DESC"
            )
        ]
    assert seen == expected and len(seen) == first["total_count"]
    assert not set(sbx.dp.seed.keys["dashboard"]) & set(seen)
    r = sbx.http.get("/key/list", params={"team_id": "litellm-dashboard"}).json()
    assert (r["keys"], r["total_count"], r["total_pages"]) == ([], 0, 0)


def test_full_object_shape_and_timestamps(sbx: Sandbox) -> None:
    body = sbx.http.get("/key/list", params={"return_full_object": "true", "size": 100}).json()
    assert len(body["keys"]) == 100
    for key in body["keys"]:
        assert list(key) == OBSERVED_FULL_OBJECT
        for f in ("created_at", "updated_at"):
            assert TS.match(key[f]) and (
                key[f].endswith("000Z") or key[f].endswith(":00Z") or "." not in key[f]
            )
        assert key["expires"] is None or TS.match(key["expires"])
        assert isinstance(key["spend"], float) and key["team_models"] == [] and key["team_blocked"] is False
    workshop = sbx.dp.seed.keys["workshop_90d_old"][0]
    key = sbx.http.get("/key/list", params={"return_full_object": "true", "key_hash": workshop}).json()[
        "keys"
    ][0]
    assert (
        key["metadata"]["duration"] == "90d"
        and key["user_id"] is None
        and key["created_by"] == "default_user_id"
    )


def test_timestamp_rendering(sbx: Sandbox) -> None:
    from datetime import UTC, datetime

    assert format_datetime(datetime(2026, 11, 29, 9, 13, 56, 683000)) == "2026-11-29T09:13:56.683000Z"
    assert format_datetime(datetime(2026, 11, 29, 9, 13, 56, tzinfo=UTC)) == "2026-11-29T09:13:56Z"
    assert format_datetime(None) is None
    gen = _gen(sbx, duration="30d")
    with sbx.litellm() as conn:
        conn.execute(
            f"UPDATE {VT} SET created_at = '2026-11-29 09:13:56', expires = '2026-12-29 09:13:56.683' WHERE token = %s",  # noqa: S608
            (gen["token"],),
        )
    key = sbx.http.get("/key/list", params={"return_full_object": "true", "key_hash": gen["token"]}).json()[
        "keys"
    ][0]
    assert key["created_at"] == "2026-11-29T09:13:56Z" and key["expires"] == "2026-12-29T09:13:56.683000Z"


def test_list_filters(sbx: Sandbox) -> None:
    s = sbx.dp.seed
    token = s.keys["litemaas_live"][0]
    with sbx.litellm() as conn:
        row = conn.execute(f"SELECT key_alias, user_id FROM {VT} WHERE token = %s", (token,)).fetchone()  # noqa: S608
        assert row is not None
        alias, user_id = row
        n_user = conn.execute(
            f"SELECT count(*) FROM {VT} WHERE user_id = %s AND team_id IS DISTINCT FROM 'litellm-dashboard'",  # noqa: S608
            (user_id,),
        ).fetchone()
        n_team = conn.execute(
            f"SELECT count(*) FROM {VT} WHERE team_id = 'a0000000-0000-4000-8000-000000000001'"  # noqa: S608
        ).fetchone()
    assert sbx.http.get("/key/list", params={"key_alias": alias}).json()["keys"] == [token]
    assert sbx.http.get("/key/list", params={"key_alias": alias[:-1]}).json()["total_count"] == 0
    assert sbx.http.get("/key/list", params={"key_alias": alias.upper()}).json()["total_count"] == 0
    assert sbx.http.get("/key/list", params={"key_hash": token}).json()["keys"] == [token]
    assert (sbx.http.get("/key/list", params={"user_id": user_id}).json()["total_count"],) == n_user
    r = sbx.http.get(
        "/key/list", params={"team_id": "a0000000-0000-4000-8000-000000000001", "size": 100}
    ).json()
    assert (r["total_count"],) == n_team


def test_list_deleted(sbx: Sandbox) -> None:
    s = sbx.dp.seed
    body = sbx.http.get(
        "/key/list", params={"status": "deleted", "size": 100, "return_full_object": "true"}
    ).json()
    assert body["total_count"] >= s.deleted_tokens
    assert all("deleted_at" in k and TS.match(k["deleted_at"]) for k in body["keys"])
    orphan = s.orphaned_key_hashes[0]
    assert sbx.http.get("/key/list", params={"status": "deleted", "key_hash": orphan}).json()["keys"] == [
        orphan
    ]
    assert sbx.http.get("/key/list", params={"key_hash": orphan}).json()["total_count"] == 0


# -- /key/generate and /key/info ----------------------------------------------------------------


def test_generate(sbx: Sandbox) -> None:
    body = _gen(sbx, duration="90d", metadata={"duration": "90d"}, models=["qwen3-14b"])
    raw = body["key"]
    assert re.fullmatch(r"sk-[A-Za-z0-9_-]{22}", raw)
    assert body["token"] == body["token_id"] == hashlib.sha256(raw.encode()).hexdigest()
    assert body["key_name"] == f"sk-...{raw[-4:]}" and body["duration"] is None
    assert TS.match(body["expires"]) and TS.match(body["created_at"])
    assert body["metadata"] == {"duration": "90d"} and body["created_by"] == "default_user_id"
    again = sbx.http.post("/key/generate", json={"key_alias": body["key_alias"]})
    assert again.status_code == 400 and "already exists" in again.json()["error"]["message"]
    never = _gen(sbx)
    assert never["expires"] is None


def test_key_info(sbx: Sandbox) -> None:
    gen = _gen(sbx, metadata={"created_by": "litemaas"})
    for presented in (gen["key"], gen["token"]):
        r = sbx.http.get("/key/info", params={"key": presented})
        assert r.status_code == 200
        body = r.json()
        assert list(body) == ["key", "info"] and body["key"] == presented
        assert "token" not in body["info"] and body["info"]["key_alias"] == gen["key_alias"]
        assert body["info"]["metadata"] == {"created_by": "litemaas"}
    r = sbx.http.get("/key/info", params={"key": "0" * 64})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


# -- /key/delete --------------------------------------------------------------------------------


def test_delete_batch_mixing_existing_and_unknown(sbx: Sandbox) -> None:
    a, b = _gen(sbx), _gen(sbx)
    request = [a["key"], b["token"], "0" * 64, "sk-doesnotexist000000000"]
    r = sbx.http.post("/key/delete", json={"keys": request}, headers={"litellm-changed-by": "tester"})
    assert r.status_code == 200 and r.json() == {"deleted_keys": request}
    with sbx.litellm() as conn:
        query = f"SELECT count(*) FROM {VT} WHERE token = ANY(%s)"  # noqa: S608
        left = conn.execute(query, ([a["token"], b["token"]],)).fetchone()
        copied = conn.execute(
            'SELECT token, key_alias, deleted_by, litellm_changed_by FROM "LiteLLM_DeletedVerificationToken"'
            " WHERE token = ANY(%s) ORDER BY key_alias",
            ([a["token"], b["token"]],),
        ).fetchall()
    assert left == (0,)
    assert sorted(copied) == sorted(
        [
            (a["token"], a["key_alias"], "default_user_id", "tester"),
            (b["token"], b["key_alias"], "default_user_id", "tester"),
        ]
    )
    listed = sbx.http.get("/key/list", params={"status": "deleted", "key_hash": a["token"]}).json()
    assert listed["keys"] == [a["token"]]


def test_delete_none_exist_is_404(sbx: Sandbox) -> None:
    gen = _gen(sbx)
    assert sbx.http.post("/key/delete", json={"keys": [gen["token"]]}).status_code == 200
    for body in (
        {"keys": [gen["token"]]},
        {"keys": ["sk-doesnotexist000000000"]},
        {"key_aliases": ["no-such-alias"]},
    ):
        r = sbx.http.post("/key/delete", json=body)
        assert r.status_code == 404 and r.json() == NO_KEYS_404


def test_delete_by_alias_and_keys_win(sbx: Sandbox) -> None:
    a, b = _gen(sbx), _gen(sbx)
    r = sbx.http.post("/key/delete", json={"key_aliases": [a["key_alias"]]})
    assert r.status_code == 200 and r.json() == {"deleted_keys": [a["key_alias"]]}
    c = _gen(sbx)
    r = sbx.http.post("/key/delete", json={"keys": [b["token"]], "key_aliases": [c["key_alias"]]})
    assert r.status_code == 200 and r.json() == {"deleted_keys": [b["token"]]}
    assert sbx.http.get("/key/list", params={"key_alias": c["key_alias"]}).json()["total_count"] == 1
    assert sbx.http.get("/key/list", params={"key_alias": b["key_alias"]}).json()["total_count"] == 0


@pytest.mark.parametrize("body", [{"keys": []}, {}, {"keys": [], "key_aliases": []}])
def test_delete_without_keys_is_422(sbx: Sandbox, body: dict[str, Any]) -> None:
    r = sbx.http.post("/key/delete", json=body)
    assert r.status_code == 422
    assert r.json() == {
        "detail": [
            {
                "type": "value_error",
                "loc": ["body"],
                "msg": "Value error, At least one of 'keys' or 'key_aliases' must be provided.",
                "input": body,
                "ctx": {"error": {}},
            }
        ]
    }


def test_http_delete_is_405(sbx: Sandbox) -> None:
    r = sbx.http.delete("/key/delete")
    assert r.status_code == 405 and r.json() == {"detail": "Method Not Allowed"}


# -- SANDBOX-ONLY faults ------------------------------------------------------------------------


def test_fault_delete_fails_after_n_calls(sbx: Sandbox) -> None:
    keys = [_gen(sbx) for _ in range(4)]
    with sbx.anon() as c:
        assert c.post("/sandbox/faults", json={"key_delete_fail_after": 2}).status_code == 401
    r = sbx.http.post("/sandbox/faults", json={"key_delete_fail_after": 2, "key_delete_fail_count": 1})
    assert r.status_code == 200 and r.json()["key_delete_fail_after"] == 2
    try:
        for k in keys[:2]:
            assert sbx.http.post("/key/delete", json={"keys": [k["token"]]}).status_code == 200
        r = sbx.http.post("/key/delete", json={"keys": [keys[2]["token"]]})
        assert r.status_code == 500
        assert r.json() == {
            "error": {
                "message": "Internal Server Error (sandbox fault injected on /key/delete)",
                "type": "internal_server_error",
                "param": "None",
                "code": "500",
            }
        }
        assert sbx.http.get("/key/list", params={"key_hash": keys[2]["token"]}).json()["total_count"] == 1
        assert sbx.http.post("/key/delete", json={"keys": [keys[3]["token"]]}).status_code == 200
        state = sbx.http.get("/sandbox/faults").json()
        assert (state["key_delete_calls"], state["key_delete_failures"]) == (3, 1)
    finally:
        assert sbx.http.delete("/sandbox/faults").json()["key_delete_fail_after"] is None
    assert sbx.http.post("/key/delete", json={"keys": [keys[2]["token"]]}).status_code == 200


def test_fault_db_unavailable(sbx: Sandbox) -> None:
    sbx.dp.api.set_faults(db_unavailable=True)
    try:
        r = sbx.http.get("/health/readiness")
        assert r.status_code == 503 and r.json()["detail"].startswith("Service Unhealthy")
        r = sbx.http.get("/key/list")
        assert r.status_code == 500 and r.json()["error"]["message"] == "Not connected to DB!"
        assert sbx.http.get("/health/liveness").status_code == 200
    finally:
        sbx.dp.api.set_faults()
    assert sbx.http.get("/health/readiness").status_code == 200
