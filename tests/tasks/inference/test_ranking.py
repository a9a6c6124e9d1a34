"""The small BM25: rare words weigh more, and the evidence is the words that matched."""

from __future__ import annotations

from worktree_pool.tasks.inference.ranking import BM25

PATHS = BM25(
    [
        ("src/api/limiter.go", ["src", "api", "limiter", "go"]),
        ("src/api/handler.go", ["src", "api", "handler", "go"]),
        ("src/db/store.go", ["src", "db", "store", "go"]),
        ("docs/limits.md", ["doc", "limit", "md"]),
    ]
)


def test_a_rare_word_outweighs_a_common_one() -> None:
    assert PATHS.idf("limiter") > PATHS.idf("api") > PATHS.idf("src")
    scores = PATHS.scores(["src", "limiter"])
    assert max(scores, key=scores.__getitem__) == "src/api/limiter.go"


def test_unknown_words_score_nothing_and_matches_are_the_evidence() -> None:
    assert PATHS.scores(["nothing", "here"]) == {}
    assert PATHS.matched(["limiter", "api", "absent"], "src/api/limiter.go") == ["api", "limiter"]


def test_empty_corpora_and_empty_documents_do_not_fail() -> None:
    assert BM25([]).scores(["x"]) == {}
    assert BM25([("empty", []), ("one", ["x"])]).scores(["x"]).keys() == {"one"}
