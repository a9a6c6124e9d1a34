"""Passwords never show: `mask` hides them in URLs, key=value strings and a parser's message
that quotes them, whatever a parser would make of the text."""

from __future__ import annotations

import pytest

from worktree_pool.util.redact import mask


@pytest.mark.parametrize(
    ("text", "conninfo", "shown"),
    [
        ("postgresql://bob:s3cr%40t@db:5432/app", None, "postgresql://bob:***@db:5432/app"),
        ("host=db password='a b' user=bob", None, "host=db password=*** user=bob"),
        ("host=db password=plain", None, "host=db password=***"),
        ("PGPASSWORD=S3cret psql", None, "PGPASSWORD=*** psql"),
        # In a URL's query string, the parameters after the password are no secret.
        (
            "postgresql://db/app?sslmode=require&password=S3cret&application_name=ci",
            None,
            "postgresql://db/app?sslmode=require&password=***&application_name=ci",
        ),
        ("postgresql://db/app?password=S3%26cret", None, "postgresql://db/app?password=***"),
        ("refused S3&cret", "postgresql://db/app?password=S3%26cret", "refused ***"),
        # What libpq makes of these does not matter: between // and @ is masked.
        ("postgresql://u:S3cret@[bad/x", None, "postgresql://u:***@[bad/x"),
        ("mysql://u:S3cret@h/x", None, "mysql://u:***@h/x"),
        ("postgresql://u:S3c@ret@h/x", None, "postgresql://u:***@h/x"),
        ("postgresql://u:S3 cret@h/x", None, "postgresql://u:***@h/x"),
        ("postgresql://bob@db/app", None, "postgresql://bob@db/app"),  # no password
        ("postgresql://S3 cret@db/app", None, "postgresql://***@db/app"),
        ('after "mysql://u:S3cret@h/x" in', None, 'after "mysql://u:***@h/x" in'),
        # A parser's message quoting the password alone: masked given the URL it is about.
        (
            'spaces found in "S3 cret", use',
            "postgresql://u:S3 cret@h/x",
            'spaces found in "***", use',
        ),
        ("token: 'p@ss'", "postgresql://u:p%40ss@h/x", "token: '***'"),
        # A user name with no password is not a secret, even where the text is about it.
        (
            "at postgresql://postgres@h/x",
            "postgresql://postgres@h/x",
            "at postgresql://postgres@h/x",
        ),
    ],
)
def test_passwords_never_show(text: str, conninfo: str | None, shown: str) -> None:
    assert mask(text, conninfo) == shown
