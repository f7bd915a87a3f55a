"""Last-line secret scrubbing for every byte the tool writes (stdout, stderr, files it renders).

Secrets never enter LiveState, Plan or any document by construction (docs/design.md §10.2); this module is
the belt to those braces. ``scrub()`` masks secrets **where they occur as secrets**, so names are never
mangled:

* the password of any ``scheme://user:password@`` URL or DSN;
* the value of a ``password=…`` / ``PGPASSWORD=…`` / ``"secret": "…"`` / ``api_key: …`` style field
  (libpq keyword conninfo, environment lines, JSON and YAML in error text);
* ``Authorization:`` header values and ``Bearer …`` tokens;
* any ``sk-`` key, LiteLLM's abbreviated ``sk-...WRNG`` form and the token hash it echoes for a
  rejected key (litellm#18731);
* every value passed to ``register()`` (master key, database passwords, Redis password, URLs with
  credentials) **that is strong enough to be unmistakable** (``is_strong``: at least 12 characters of
  three kinds, or 20 of any), wherever it appears.

A registered value that is weak is masked by value only as a whole token (not next to a letter, digit,
``_`` or ``-``) and only when it cannot be a name: when it has a digit or starts with ``sk-`` (LiteLLM's
documented default master key ``sk-1234``). A weak value that is a word, such as a database password
``litellm`` (as some installs use), is NOT masked by value: it would also mask the names containing it
(``deployment/litellm``, ``litellm-rhpds``, "database litellm"). It is still masked in the contexts
above, and ``weak_secrets()`` lists what was weak so the commands can warn once (commands/common.py).

The registry is process-wide, so in a fleet run (commands/fleet.py, one thread per environment) every
output is masked of every environment's secrets. ``weak_secrets()`` inside ``scope()`` lists only what
was registered in that scope, so one environment's plan does not warn about another's passwords.
"""

from __future__ import annotations

import contextvars
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

MASK = "(sensitive value)"
_SK = re.compile(r"sk-[A-Za-z0-9_\-]{8,}")
# LiteLLM's abbreviated keys ("sk-...WRNG") and the token hash it echoes for a rejected key (litellm#18731)
_SK_ABBREV = re.compile(r"sk-\.\.\.[A-Za-z0-9_\-]+")
_REJECTED_HASH = re.compile(r"(Key Hash \(Token\)\s*=\s*)[0-9a-f]{6,}")
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
# key=value / key: value fields whose value is a secret: libpq conninfo, env lines, JSON/YAML bodies.
_FIELD = re.compile(
    r"""(?P<key>\b(?:[A-Za-z0-9_]*_)?(?:(?:pg)?password|passwd|pwd|secret|api[_-]?key|master[_-]?key|access[_-]?token|"""
    r"""auth[_-]?token|client[_-]?secret)["']?\s*[=:]\s*)(?!\(sensitive value\))(?P<value>"[^"\n]*"|'[^'\n]*'|[^\s,;&'"}\]]+)""",
    re.IGNORECASE,
)
_AUTHORIZATION = re.compile(r"(?P<key>\bAuthorization[\"']?\s*[=:]\s*[\"']?)(?P<value>[^\"'\n,}]+)", re.IGNORECASE)
_BEARER = re.compile(r"(?P<key>\bBearer\s+)(?P<value>[A-Za-z0-9._~+/=\-]+)")

_lock = threading.Lock()
_secrets: set[str] = set()
_weak: dict[str, str] = {}  # value -> what it is (for the warning); never printed with the value
_EDGE = "A-Za-z0-9_\\-"
# The weak secrets registered in the current scope (one environment of a fleet run); None outside one.
_scope: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("redact_scope", default=None)


@contextmanager
def scope() -> Iterator[None]:
    """Inside, ``weak_secrets()`` lists only the weak secrets registered inside (in this thread: a new
    thread starts outside any scope, Python's ``contextvars`` rule for threads). Masking is unaffected:
    ``scrub`` masks every secret ever registered. Raises nothing."""
    token = _scope.set({})
    try:
        yield
    finally:
        _scope.reset(token)


def is_strong(value: str) -> bool:
    """Unmistakable as a secret: at least 12 characters of three kinds (lower, upper, digit, other), or
    at least 20 characters. Such a value is masked wherever it appears."""
    kinds = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    return (len(value) >= 12 and kinds >= 3) or len(value) >= 20


def register(*values: str | None, what: str = "a secret") -> None:
    """Remember secret values so every later output is scrubbed of them (see the module docstring).

    ``what`` names the secret in the weak-secret warning, e.g. "the litellm database password".
    """
    with _lock:
        for v in values:
            if not v:
                continue
            if is_strong(v):
                _secrets.add(v)
            else:
                _weak.setdefault(v, what)
                local = _scope.get()
                if local is not None:
                    local.setdefault(v, what)


def weak_secrets() -> list[str]:
    """What was registered but too weak to mask by value (descriptions only, sorted, no values); inside
    ``scope()``, only what was registered in it."""
    local = _scope.get()
    with _lock:
        return sorted(set((_weak if local is None else local).values()))


def _mask_value(m: re.Match[str]) -> str:
    value = m.group("value")
    quote = value[0] if value[:1] in ("'", '"') and value[-1:] == value[0] and len(value) > 1 else ""
    return f"{m.group('key')}{quote}{MASK}{quote}"


def holds_secret(text: str) -> bool:
    """Whether ``text`` contains a registered secret, compared without regard to case (a value the world
    case-folded, e.g. an e-mail, still holds it). For values written somewhere masking cannot follow, such
    as a generated state file: such a value is left out rather than masked (render/init.py)."""
    low = text.casefold()
    with _lock:
        known = list(_secrets) + [v for v in _weak if len(v) >= 4 and (v.startswith("sk-") or any(c.isdigit() for c in v))]
    return any(v.casefold() in low for v in known if v)


def scrub(text: str) -> str:
    """Return ``text`` with secrets masked where they occur as secrets (see the module docstring)."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
        tokens = sorted((v for v in _weak if len(v) >= 4 and (v.startswith("sk-") or any(c.isdigit() for c in v))),
                        key=len, reverse=True)
    for v in known:
        if v in text:
            text = text.replace(v, MASK)
    for v in tokens:
        if v in text:
            text = re.sub(f"(?<![{_EDGE}]){re.escape(v)}(?![{_EDGE}])", MASK, text)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)
    text = _FIELD.sub(_mask_value, text)
    text = _AUTHORIZATION.sub(_mask_value, text)
    text = _BEARER.sub(_mask_value, text)
    text = _REJECTED_HASH.sub(lambda m: m.group(1) + MASK, text)
    text = _SK_ABBREV.sub(MASK, text)
    return _SK.sub(MASK, text)
