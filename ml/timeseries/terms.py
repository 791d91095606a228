"""What a spike is about: the terms that rose, and the documents that represent it.

`rising_terms` ranks unigrams and bigrams by the weighted log-odds ratio with an
informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin' Words", section 3.5):
the prior is the pooled frequency of both corpora, so rare words are shrunk towards "no
change" and the z-score accounts for how much evidence each term has. Terms are counted
once per document (a long text repeating a word is one voice).

`representative` returns the documents closest to the centroid of the spike's documents
(TF-IDF cosine by default, or any embeddings the caller passes).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# A compact English stopword list (function words, auxiliaries, pronouns, web noise).
_STOPWORDS_TEXT = """
a about above after again against all also am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
few for from further get got had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers
herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself just let's me
more most mustn't my myself no nor not now of off on once only or other ought our ours ourselves out over own
same shan't she she'd she'll she's should shouldn't so some such than that that's the their theirs them
themselves then there there's these they they'd they'll they're they've this those through to too under until
up very was wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while
who who's whom why why's will with won't would wouldn't you you'd you'll you're you've your yours yourself
yourselves s t re ve ll d m one two via per us amp http https www com co said says say new like get gets just
today
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_TOKEN = re.compile(r"[a-z0-9][a-z0-9'’-]*[a-z0-9]|[a-z]")


@dataclass(frozen=True)
class RisingTerm:
    term: str
    current_count: int  # documents of the spike that contain it
    baseline_count: int
    current_rate: float  # share of the spike's documents that contain it
    baseline_rate: float
    score: float  # z of the weighted log-odds ratio (current vs baseline)

    def as_dict(self) -> dict:
        return {
            "term": self.term,
            "current_count": self.current_count,
            "baseline_count": self.baseline_count,
            "current_rate": round(self.current_rate, 4),
            "baseline_rate": round(self.baseline_rate, 4),
            "score": round(self.score, 3),
        }


def _keep(token: str) -> bool:
    return token not in STOPWORDS and not token.isdigit() and len(token) > 1


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens without stopwords or pure numbers."""
    return [token for token in _TOKEN.findall(text.lower().replace("’", "'")) if _keep(token)]


def _document_terms(text: str) -> set[str]:
    # Bigrams only from words adjacent in the text: "freeze again and I cannot pay" must
    # not yield "freeze pay".
    tokens = _TOKEN.findall(text.lower().replace("’", "'"))
    kept = [token if _keep(token) else None for token in tokens]
    terms = {token for token in kept if token}
    terms.update(f"{first} {second}" for first, second in zip(kept, kept[1:], strict=False) if first and second)
    return terms


def rising_terms(
    current_texts: Sequence[str],
    baseline_texts: Sequence[str],
    top_k: int = 8,
    *,
    min_count: int = 2,
    prior_strength: float | None = None,
) -> list[RisingTerm]:
    """The unigrams and bigrams whose frequency rose most from the baseline to the current texts.

    Args:
        current_texts: the spike's documents (e.g. negative documents of the window).
        baseline_texts: the comparison documents (e.g. negative documents of the baseline).
        top_k: how many terms to return.
        min_count: a term must appear in at least this many current documents.
        prior_strength: the total pseudo-count `α0` of the Dirichlet prior, spread over the
            vocabulary in proportion to the pooled frequencies; None uses the pooled counts
            themselves (`α_w = y_current + y_baseline`), the usual informative prior.

    Returns:
        Up to `top_k` terms with a positive z-score, highest first. A unigram inside an
        already chosen bigram is skipped (it says the same thing).

    Example:
        >>> rising_terms(["card freeze again"] * 5, ["login works fine"] * 20, top_k=1)[0].term
        'card freeze'
    """
    current = Counter(term for text in current_texts for term in _document_terms(text))
    baseline = Counter(term for text in baseline_texts for term in _document_terms(text))
    n_current = sum(current.values())
    n_baseline = sum(baseline.values())
    if not n_current:
        return []
    pooled_total = n_current + n_baseline
    strength = float(pooled_total if prior_strength is None else prior_strength)
    scored: list[RisingTerm] = []
    for term, y_current in current.items():
        if y_current < min_count:
            continue
        y_baseline = baseline.get(term, 0)
        alpha = strength * (y_current + y_baseline) / pooled_total
        log_odds_current = math.log((y_current + alpha) / (n_current + strength - y_current - alpha))
        log_odds_baseline = math.log((y_baseline + alpha) / (n_baseline + strength - y_baseline - alpha))
        variance = 1.0 / (y_current + alpha) + 1.0 / (y_baseline + alpha)
        z = (log_odds_current - log_odds_baseline) / math.sqrt(variance)
        if z <= 0:
            continue
        scored.append(
            RisingTerm(
                term=term,
                current_count=y_current,
                baseline_count=y_baseline,
                current_rate=y_current / max(len(current_texts), 1),
                baseline_rate=y_baseline / max(len(baseline_texts), 1),
                score=z,
            )
        )
    # On a tie the bigram wins: "card freeze" says more than "card".
    scored.sort(key=lambda item: (-round(item.score, 9), -item.term.count(" "), item.term))
    chosen: list[RisingTerm] = []
    covered: set[str] = set()
    for item in scored:
        if item.term in covered:
            continue
        chosen.append(item)
        if " " in item.term:
            covered.update(item.term.split(" "))
        if len(chosen) == top_k:
            break
    return chosen


def representative(texts_or_embeddings: Sequence[str] | np.ndarray, k: int = 3) -> list[int]:
    """Indices of the `k` documents closest (cosine) to the centroid of all of them.

    Args:
        texts_or_embeddings: texts (TF-IDF vectors are built), or a 2-D array of embeddings.
        k: how many to return.

    Returns:
        Indices into the input, most central first.

    Example:
        >>> representative(["card frozen", "card frozen again", "weather is nice"], k=1)
        [0]
    """
    if isinstance(texts_or_embeddings, np.ndarray):
        matrix = np.asarray(texts_or_embeddings, dtype=np.float64)
    else:
        texts = list(texts_or_embeddings)
        if not texts:
            return []
        from sklearn.feature_extraction.text import TfidfVectorizer

        try:
            matrix = (
                TfidfVectorizer(tokenizer=tokenize, token_pattern=None, lowercase=False, ngram_range=(1, 2))
                .fit_transform(texts)
                .toarray()
            )
        except ValueError:  # every text was stopwords only
            return list(range(min(k, len(texts))))
    if not len(matrix):
        return []
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = matrix / np.where(norms == 0, 1.0, norms)
    centroid = unit.mean(axis=0)
    similarity = unit @ centroid
    order = sorted(range(len(similarity)), key=lambda index: (-similarity[index], index))
    return order[:k]
