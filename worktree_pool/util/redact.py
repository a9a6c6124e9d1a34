"""Secrets out of everything wtpool shows: errors, `report`, `config`, `status`, `doctor`,
`leaks`, the monitor and the daemon's log.

One function, `mask`, and it does not trust a parser: a URL that libpq rejects (an unbalanced
`[`, a password with a space or an `@`, a `mysql://` scheme) still carries a password, and a
parser's error message quotes it. So the rules are textual:

- between `//` and the last `@` that follows it (before the next `//` or line end),
  everything is masked but a plain user name (letters, digits, `._%+-`) before the first `:`;
- the value after `password=` (any case, so `PGPASSWORD=` too) is masked: up to the next
  `&` in a URL's query string (`?sslmode=require&password=x&application_name=y`), else up to
  the next blank;
- given the connection string a text is about, each secret in it is masked wherever it
  appears in the text, percent-decoded too: a parser's message may quote just the password.

Masking too much is harmless; showing a password once is not. Standard library only: the CLI's
error boundary runs it on every error.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"
_USER = re.compile(r"[A-Za-z0-9._%+-]+")
# From `//` to the last `@` before the next `//` or line end.
_CREDENTIALS = re.compile(r"//((?:(?!//)[^\n])*)@")
_PASSWORD_VALUE = re.compile(r"((?<![?&])password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)", re.IGNORECASE)
# In a URL's query string the value ends at the next parameter, which is no secret.
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&#\s]*)", re.IGNORECASE)


def mask(text: str, conninfo: str | None = None) -> str:
    """`text` with every password it may hold replaced by `***`; `conninfo`, when given, is the
    connection string the text is about, whose secrets are masked wherever they appear."""
    for secret in sorted(_secrets(conninfo), key=len, reverse=True) if conninfo else ():
        text = text.replace(secret, MASK)
    text = _CREDENTIALS.sub(lambda match: f"//{_masked_userinfo(match.group(1))}@", text)
    text = _QUERY_PASSWORD.sub(rf"\g<1>{MASK}", text)
    return _PASSWORD_VALUE.sub(rf"\g<1>{MASK}", text)


def _masked_userinfo(userinfo: str) -> str:
    """A plain user name stays (a database URL has its password after a colon); the rest goes."""
    user, colon, _ = userinfo.partition(":")
    if not _USER.fullmatch(user):
        return MASK
    return f"{user}:{MASK}" if colon else user


def _secrets(conninfo: str) -> set[str]:
    """The passwords in a connection string, raw and percent-decoded."""
    found = set()
    for match in _CREDENTIALS.finditer(conninfo):
        user, colon, password = match.group(1).partition(":")
        if not _USER.fullmatch(user):
            found.add(match.group(1))
        elif colon:  # a plain user name alone is no secret (mask shows it too)
            found.add(password)
    for match in (*_PASSWORD_VALUE.finditer(conninfo), *_QUERY_PASSWORD.finditer(conninfo)):
        found.add(match.group(2).strip("'"))
    found |= {unquote(secret) for secret in found}
    return {secret for secret in found if secret and secret != MASK}
