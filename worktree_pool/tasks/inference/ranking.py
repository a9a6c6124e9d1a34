"""BM25, small: ranking documents (a path's words, or a closed task's text) against a query.

rank-bm25 and bm25s both need numpy, whose import alone costs more than a whole `tracks analyze`
on a small repository, and the corpora here are a few thousand short documents: a dictionary
of postings scores them in milliseconds.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


class BM25(Generic[Key]):
    """Okapi BM25 over documents given as lists of words."""

    def __init__(
        self, documents: Iterable[tuple[Key, Sequence[str]]], k1: float = 1.2, b: float = 0.75
    ) -> None:
        self.k1, self.b = k1, b
        self.lengths: dict[Key, int] = {}
        self.postings: dict[str, dict[Key, int]] = defaultdict(dict)
        for key, words in documents:
            self.lengths[key] = len(words)
            for word, count in Counter(words).items():
                self.postings[word][key] = count
        average = sum(self.lengths.values()) / max(len(self.lengths), 1) or 1.0
        self.norms = {key: k1 * (1 - b + b * n / average) for key, n in self.lengths.items()}

    def idf(self, word: str) -> float:
        """Rare words weigh more; a word in most documents weighs next to nothing."""
        n, df = len(self.lengths), len(self.postings.get(word, ()))
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def scores(self, query: Iterable[str], least_idf: float = 0.1) -> dict[Key, float]:
        """Each document's score; words in nearly every document (idf below `least_idf`) are
        skipped, since they change no ranking and their postings are the longest to walk."""
        totals: dict[Key, float] = defaultdict(float)
        k1 = self.k1
        for word in set(query):
            postings = self.postings.get(word)
            if not postings:
                continue
            idf = self.idf(word)
            if idf < least_idf:
                continue
            norms = self.norms
            for key, count in postings.items():
                totals[key] += idf * count * (k1 + 1) / (count + norms[key])
        return dict(totals)

    def matched(self, query: Iterable[str], key: Key, least_idf: float = 0.69) -> list[str]:
        """The query's words that `key` holds and that say something (at most about half the
        documents hold them; idf log 2 is half): the evidence for its score."""
        return sorted(
            {w for w in query if key in self.postings.get(w, {}) and self.idf(w) >= least_idf}
        )
