"""The last-line scrubber masks registered secrets, sk- keys, URL passwords and LiteLLM's echoes."""

from __future__ import annotations

from litemaas_state import redact
from litemaas_state.live.litellm_api import error_text


def test_scrub_masks_known_shapes() -> None:
    redact.register("S3cretValue!")
    text = ("key sk-abcdefgh12345678 url postgresql://litellm:pw%40x@db:5432/x secret S3cretValue! "
            "abbrev sk-...WRNG hash Key Hash (Token) =e882be19aabbccdd")
    out = redact.scrub(text)
    for leaked in ("sk-abcdefgh12345678", "pw%40x", "S3cretValue!", "sk-...WRNG", "e882be19aabbccdd"):
        assert leaked not in out
    assert "postgresql://litellm:(sensitive value)@db:5432/x" in out


def test_litellm_401_message_is_cut_before_the_key_echo() -> None:
    import httpx

    body = {"error": {"message": "Authentication Error, Invalid proxy server token passed. Received API Key = "
                                 "sk-...0000, Key Hash (Token) =efb27d0197. Unable to find token",
                      "type": "token_not_found_in_db", "param": "key", "code": "401"}}
    resp = httpx.Response(401, json=body)
    assert error_text(resp) == "HTTP 401: Authentication Error, Invalid proxy server token passed"


def test_unexpected_errors_and_their_tracebacks_are_scrubbed(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from litemaas_state import cli

    secret = "VeryPrivatePassw0rd"
    redact.register(secret)

    def boom() -> int:
        raise RuntimeError(f"connect postgresql://litellm:{secret}@db/x failed with sk-abcdefghijklmnop")

    monkeypatch.setenv("LITEMAAS_STATE_DEBUG", "1")
    with pytest.raises(SystemExit) as exit_info:
        cli._run(boom)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "unexpected internal error: RuntimeError" in err and "Traceback" in err
    assert secret not in err and "sk-abcdefghijklmnop" not in err


def test_a_weak_secret_is_masked_where_it_is_a_secret_and_never_inside_names(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(redact, "_weak", {})
    redact.register("litellm", what="the litellm database password")
    text = ("environment litellm-rhpds deployment/litellm database litellm user litellm; "
            "postgresql://litellm:litellm@db:5432/litellm host=db password=litellm dbname=litellm "
            "PGPASSWORD=litellm {\"password\": \"litellm\"} db_password: 'litellm' "
            "Authorization: Bearer abc.def-ghi")
    out = redact.scrub(text)
    assert out.startswith("environment litellm-rhpds deployment/litellm database litellm user litellm; ")
    assert "postgresql://litellm:(sensitive value)@db:5432/litellm" in out
    assert "password=(sensitive value) dbname=litellm" in out
    assert "PGPASSWORD=(sensitive value)" in out and '"password": "(sensitive value)"' in out
    assert "db_password: '(sensitive value)'" in out
    assert "abc.def-ghi" not in out
    assert redact.weak_secrets() == ["the litellm database password"]
    assert redact.scrub(out) == out  # idempotent: a mask is never masked again


def test_strong_secrets_are_masked_anywhere() -> None:
    for value in ("Xy7-Long-Random!", "averyveryverylongpassphrase"):
        assert redact.is_strong(value)
        redact.register(value)
        assert redact.scrub(f"got {value}.") == "got (sensitive value)."
    for value in ("litellm", "litemaas_db", "Password1"):
        assert not redact.is_strong(value)


def test_a_relative_backup_directory_is_relative_to_the_state_file() -> None:
    from pathlib import Path

    from litemaas_state.commands.common import state_from_text

    text = (Path(__file__).parents[1] / "state" / "litellm-rhpds.yaml").read_text()
    assert state_from_text(text, Path("state/litellm-rhpds.yaml")).desired.backup.directory == "state/backups"
    assert state_from_text(text, Path("../state/x.yaml")).desired.backup.directory == "../state/backups"
    assert state_from_text(text, Path("x.yaml")).desired.backup.directory == "backups"
    absolute = text.replace("directory: backups", "directory: /srv/dumps")
    assert state_from_text(absolute, Path("state/x.yaml")).desired.backup.directory == "/srv/dumps"


def test_a_weak_secret_that_cannot_be_a_name_is_masked_as_a_whole_token(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(redact, "_weak", {})
    redact.register("sk-1234", what="the LiteLLM master key")  # LiteLLM's documented default
    out = redact.scrub("Received API Key = sk-1234, then sk-12345 and x-sk-1234")
    assert out == "Received API Key = (sensitive value), then sk-12345 and x-sk-1234"


def test_the_weak_secret_warning_survives_the_redactor(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from litemaas_state.commands.common import weak_secret_warnings

    monkeypatch.setattr(redact, "_weak", {})
    redact.register("litellm", what="the litellm database password")
    (warning,) = weak_secret_warnings()
    assert redact.scrub(warning.summary) == warning.summary
    assert redact.MASK not in redact.scrub(warning.summary)
