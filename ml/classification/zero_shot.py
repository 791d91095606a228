"""Zero-shot topics: pick the topic whose description is closest to a text (no training).

Each topic is embedded as "name: description" with the shared sentence encoder; a text
goes to the topic with the highest cosine similarity. Probabilities are a softmax over the
similarities divided by `temperature`; a text whose best similarity is below `floor` is
labelled OTHER instead (its probabilities still describe the topics).

No torch here: the caller embeds (ml.serving's shared encoder, or any function returning
L2-normalisable vectors), so the web process can build and test this without loading a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

OTHER = "other"
# Cosines of all-MiniLM-L6-v2 between a short text and a one-line topic description sit
# around 0.0-0.2 when unrelated and 0.3-0.6 when on topic (hand-checked on the project's
# demo news), so 0.15 leaves "other" to texts that match no topic at all.
DEFAULT_FLOOR = 0.15
# Cosine gaps between candidate topics are small (0.05-0.2); /0.05 turns a 0.1 gap into
# e^2 = 7.4x, the same scale (x20) as the contrastive loss and the classification head.
DEFAULT_TEMPERATURE = 0.05


@dataclass(frozen=True)
class Topic:
    """One candidate. Example: Topic("fraud", "scams, stolen cards, phishing")."""

    name: str
    description: str = ""

    @property
    def prompt(self) -> str:
        return f"{self.name}: {self.description}" if self.description else self.name


@dataclass(frozen=True)
class TopicScore:
    """The chosen topic (or OTHER), its similarity and the probabilities over the topics."""

    topic: str
    similarity: float
    probabilities: dict[str, float]


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def score_topics(
    text_vectors: np.ndarray,
    topic_vectors: np.ndarray,
    names: Sequence[str],
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    floor: float = DEFAULT_FLOOR,
) -> list[TopicScore]:
    """Assign each text vector to its most similar topic vector.

    Args:
        text_vectors: (n, d) embeddings of the texts.
        topic_vectors: (k, d) embeddings of the topics' prompts, in the order of `names`.
        names: the k topic names.
        temperature: softmax temperature on cosine similarities (smaller is sharper).
        floor: below this best similarity the topic is OTHER.

    Returns:
        One TopicScore per text, in order.

    Example:
        >>> score_topics(np.eye(2), np.eye(2), ["a", "b"])[1].topic
        'b'
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive (got {temperature}).")
    if len(names) != len(topic_vectors) or not len(names):
        raise ValueError("Give one vector per topic name, and at least one topic.")
    if not len(text_vectors):
        return []
    similarities = _normalise(text_vectors) @ _normalise(topic_vectors).T
    logits = similarities / temperature
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    scores = []
    for row, probability_row in zip(similarities, probabilities, strict=True):
        best = int(row.argmax())
        scores.append(
            TopicScore(
                topic=names[best] if row[best] >= floor else OTHER,
                similarity=float(row[best]),
                probabilities={name: float(p) for name, p in zip(names, probability_row, strict=True)},
            )
        )
    return scores


def zero_shot_topics(
    texts: Sequence[str],
    topics: Sequence[Topic],
    embed: Callable[[list[str]], np.ndarray],
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    floor: float = DEFAULT_FLOOR,
) -> list[TopicScore]:
    """Embed `texts` and the topics' prompts with `embed` and score them (see score_topics).

    Example:
        >>> topics = [Topic("fraud", "scams, stolen cards"), Topic("fees", "charges and prices")]  # doctest: +SKIP
        >>> zero_shot_topics(["My card was stolen"], topics, embed)[0].topic  # doctest: +SKIP
        'fraud'
    """
    if not texts:
        return []
    vectors = np.asarray(embed([*texts, *(topic.prompt for topic in topics)]))
    return score_topics(
        vectors[: len(texts)],
        vectors[len(texts) :],
        [topic.name for topic in topics],
        temperature=temperature,
        floor=floor,
    )
