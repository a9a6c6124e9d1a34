"""Reading a task's text: the words it uses, and the tokens in it that look like paths.

Words are split the way identifiers are written (camelCase, snake_case, kebab-case, dotted
names) and reduced to a crude stem, so that `RateLimiters`, `rate_limiter` and `rate-limiter.go`
all say `rate` and `limiter`. The stemmer only folds plurals: anything cleverer would also fold
names that differ on purpose.
"""

from __future__ import annotations

import re

from worktree_pool.tasks.graph import Task

# A task text is read up to this many characters: a 1 MB description is refused no further
# than this, and nothing in it past this point is believed to name a file.
MAX_TEXT = 64_000

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# A run of the characters a path or glob is written with; what surrounds it (quotes,
# backticks, brackets, sentence punctuation) is not part of it.
_PATH_RUN = re.compile(r"[\w.*?/\[\]{}@+~-]+")
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,7}$")
# Latin and English abbreviations that look like a file with an extension (`x.c` is a file).
_ABBREVIATIONS = frozenset({"e.g", "i.e", "a.k.a", "n.b", "et.al"})
MAX_PATH = 400
MAX_DEPTH = 32
_EDGE_PUNCTUATION = ".,;:!?'\"`)(]["
# A leading dot belongs to the path (`.github/`, `.gitignore`, `./src/`, `../`): only sentence
# punctuation before it is trimmed, or `../x` would pass as `/x` and `.github/` as `github/`.
_LEADING_PUNCTUATION = _EDGE_PUNCTUATION.replace(".", "")

# Words that say nothing about where work happens, however often paths contain them.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "not",
        "of",
        "on",
        "or",
        "that",
        "the",
        "then",
        "this",
        "to",
        "was",
        "we",
        "when",
        "which",
        "will",
        "with",
        "without",
        "should",
        "must",
        "may",
        "new",
        "add",
        "adds",
        "added",
        "use",
        "used",
        "using",
        "make",
        "makes",
        "via",
        "so",
        "all",
        "any",
        "each",
        "per",
        "no",
        "yes",
        "also",
        "only",
        "out",
        "up",
        "fix",
        "fixes",
        "fixed",
        "bug",
        "issue",
        "task",
        "implement",
        "implements",
        "implementation",
        "support",
        "update",
        "updates",
        "ensure",
        "create",
        "creates",
    ]
)


def task_text(task: Task) -> str:
    """Everything a task says about itself, bounded."""
    parts = (
        task.title,
        task.description,
        task.design,
        task.notes,
        task.acceptance_criteria,
        " ".join(task.labels),
    )
    return "\n".join(p for p in parts if p)[:MAX_TEXT]


def stem(word: str) -> str:
    word = word.lower()
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def split_identifier(token: str) -> list[str]:
    """`RateLimiterTest` -> rate, limiter, test; `rate_limiter` -> rate, limiter."""
    return [stem(part) for part in _CAMEL.findall(token) if not part.isdigit()]


def words(text: str) -> list[str]:
    """The stems of the words and identifiers in `text`, stopwords and single letters left out."""
    found = []
    for token in _WORD.findall(text[:MAX_TEXT]):
        found += [w for w in split_identifier(token) if len(w) > 1 and w not in STOPWORDS]
    return found


def path_tokens(text: str) -> list[str]:
    """Tokens that look like a path or glob: they hold a `/` or end in a file extension.

    URLs, absolute and home paths and anything with a `..` component are not the repository's
    paths and are skipped, as are abbreviations (`e.g`, `i.e`), anything that is all
    punctuation once its edges are trimmed, and tokens too long to be a path anyone typed
    (resolving those would cost time in proportion to their length squared).
    """
    found = []
    for match in _PATH_RUN.finditer(text[:MAX_TEXT]):
        token = match.group(0).rstrip(_EDGE_PUNCTUATION).lstrip(_LEADING_PUNCTUATION)
        if match.end() < len(text) and text.startswith("://", match.end()):
            continue
        if not token or token.startswith(("/", "~")) or "//" in token:
            continue
        if token.lower().rstrip(".") in _ABBREVIATIONS:
            continue
        if len(token) > MAX_PATH or token.count("/") > MAX_DEPTH:
            continue
        if ".." in token.split("/") or not re.search(r"[A-Za-z0-9]", token):
            continue
        if "/" in token or _EXTENSION.search(token):
            found.append(token.removeprefix("./"))
    return list(dict.fromkeys(found))
