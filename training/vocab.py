"""The vocabulary: token strings to ids, stored as JSON (never pickle).

``HOLD`` is always id 0, whether or not a corpus has rests (the seed's
vocabulary was off by one when it had none). Tokens rarer than ``min_count``
fold into their top note, and to ``HOLD`` when even that is unknown, so rare
chords do not bloat the output layer.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bgm.tokens import HOLD, top_note


@dataclass(frozen=True)
class Vocabulary:
    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.tokens or self.tokens[0] != HOLD:
            raise ValueError("the vocabulary must start with HOLD")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("the vocabulary has duplicate tokens")

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    def fold(self, token: str, index: dict[str, int] | None = None) -> int:
        """The id of ``token``, or of what it folds into when it is not in the vocabulary."""
        index = index if index is not None else self.index
        if token in index:
            return index[token]
        return index.get(top_note(token), 0)

    def ids(self, tokens: Iterable[str]) -> list[int]:
        index = self.index
        return [self.fold(t, index) for t in tokens]

    def extended(self, new_tokens: Iterable[str]) -> Vocabulary:
        """This vocabulary with unseen tokens appended: old ids keep their meaning."""
        seen = set(self.tokens)
        extra = [t for t in dict.fromkeys(new_tokens) if t not in seen]
        return Vocabulary(self.tokens + tuple(extra))

    def to_json(self) -> str:
        return json.dumps({"tokens": list(self.tokens)})

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        return cls(tuple(json.loads(text)["tokens"]))

    def save(self, path: Path) -> None:
        path.write_text(self.to_json())

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        return cls.from_json(path.read_text())


def frequent_tokens(streams: Iterable[Iterable[str]], min_count: int) -> list[str]:
    """Onset tokens seen at least ``min_count`` times (after folding rare ones), most common first."""
    counts = Counter(t for stream in streams for t in stream if t != HOLD)
    kept = {t for t, n in counts.items() if n >= min_count}
    folded = Counter()
    for token, n in counts.items():
        target = token if token in kept else top_note(token)
        folded[target] += n
    return [t for t, n in folded.most_common() if n >= min_count]


def build(streams: Iterable[Iterable[str]], min_count: int = 3) -> Vocabulary:
    return Vocabulary((HOLD, *frequent_tokens(streams, min_count)))
