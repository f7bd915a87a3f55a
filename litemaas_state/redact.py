"""Last-line secret scrubbing for every byte the tool writes (stdout, stderr, files it renders).

Secrets never enter LiveState, Plan or any document by construction (style.md §6.4 #2); this module is
the belt to those braces: ``register()`` records each secret value the moment it is read (master key,
database passwords, Redis password), and ``scrub()`` replaces registered values, any ``sk-`` key and any
``scheme://user:password@`` credential with a mask. Used by the CLI's output functions and its handler
of unexpected errors.
"""

from __future__ import annotations

import re
import threading

MASK = "(sensitive value)"
_SK = re.compile(r"sk-[A-Za-z0-9_\-]{8,}")
# LiteLLM's abbreviated keys ("sk-...WRNG") and the token hash it echoes for a rejected key (litellm#18731)
_SK_ABBREV = re.compile(r"sk-\.\.\.[A-Za-z0-9_\-]+")
_REJECTED_HASH = re.compile(r"(Key Hash \(Token\)\s*=\s*)[0-9a-f]{6,}")
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")

_lock = threading.Lock()
_secrets: set[str] = set()


def register(*values: str | None) -> None:
    """Remember secret values so every later output is scrubbed of them (values shorter than 4 ignored)."""
    with _lock:
        for v in values:
            if v and len(v) >= 4:
                _secrets.add(v)


def scrub(text: str) -> str:
    """Return ``text`` with registered secrets, ``sk-`` keys and URL passwords masked."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for v in known:
        if v in text:
            text = text.replace(v, MASK)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)
    text = _REJECTED_HASH.sub(lambda m: m.group(1) + MASK, text)
    text = _SK_ABBREV.sub(MASK, text)
    return _SK.sub(MASK, text)
