"""The composer: a song's parts generated token by token through the model server.

The seed's form (bgm/form.py): verse 1, chorus and bridge are independent, so
they are generated together, one row each, in one Predict per step; verse 2
continues verse 1 and follows in a second pass. A model with a ``step``
signature (``state_size`` > 0) carries its state from token to token, so most
steps send one token per row instead of a whole window, and verse 2 goes on
from verse 1's state. A request's seed fixes the primers and the sampling, so
the same seed on the same model version gives the same song; ``variation``
keeps the primers and key and redraws the sampling.
A melody model (bgm/melody.py) writes in C major / A minor under the rules and
phrase plans of composer/generation.py; its song is moved to a key drawn from
the mood's keys. An older model's song is moved to the mood's parallel mode.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from bgm import phrases
from bgm.constraints import Rules
from bgm.form import BAR_STEPS, LENGTHS, Section, layout, part_bars
from bgm.harmony import Key, with_mode
from bgm.melody import one_line, to_key, transpose
from bgm.styles import STYLES
from bgm.tokens import decode, encode
from composer.client import ModelClient, ModelInfo
from composer.errors import BgmError, ModelChanged, UnknownMood
from composer.generation import Generator, Rows
from composer.sampling import sample
from composer.stages import Stage

Progress = Callable[[Stage], None]
# A carried state is read afresh from the last window every this many steps (composer/generation.py).
RESTART_EVERY = 8


@dataclass(frozen=True)
class ComposeRequest:
    mood: str
    length: str = "medium"
    seed: int | None = None
    variation: int = 0
    tempo: int | None = None
    temperature: float | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        if self.length not in LENGTHS:
            raise BgmError(f"Length must be one of {', '.join(LENGTHS)}.")
        if self.tempo is not None and not 30 <= self.tempo <= 240:
            raise BgmError("Tempo must be between 30 and 240 beats per minute.")
        if self.temperature is not None and not 0.05 <= self.temperature <= 3:
            raise BgmError("Temperature must be between 0.05 and 3.")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise BgmError("top-p must be in (0, 1].")

    def seeded(self) -> ComposeRequest:
        """This request with a seed drawn when it has none, so the song can be made again."""
        return self if self.seed is not None else replace(self, seed=secrets.randbelow(2**31))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ComposeRequest:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class Composition:
    request: ComposeRequest  # with its seed
    model_version: int
    tokens: tuple[str, ...]
    sections: tuple[Section, ...]
    key: str = ""  # e.g. "D minor" when the composer chose it ("": estimated from the tune when arranged)


class Composer:
    """Composes songs with whatever model the client's server serves."""

    def __init__(self, client: ModelClient, decoder: Callable[..., np.ndarray] = sample) -> None:
        self.client = client
        self.decoder = decoder

    async def compose(self, request: ComposeRequest, progress: Progress | None = None) -> Composition:
        request = request.seeded()
        try:
            return await self._compose(request, await self.client.metadata(), progress)
        except ModelChanged:
            # A new version went live mid-song: start over on it, once.
            return await self._compose(request, await self.client.metadata(), progress)

    async def _compose(
        self, request: ComposeRequest, info: ModelInfo, progress: Progress | None
    ) -> Composition:
        if request.mood not in info.moods:
            raise UnknownMood(request.mood, info.moods)
        style = STYLES[request.mood]
        temperature = request.temperature or style.temperature
        top_p = request.top_p or style.top_p
        bars = part_bars(request.length)
        mood = info.moods.index(request.mood)

        primers = info.primers[mood]
        song_rng = np.random.default_rng(request.seed)  # what the seed fixes: primers and key
        picks = song_rng.choice(len(primers), size=3, replace=len(primers) < 3)
        tonic = int(song_rng.choice(style.keys))
        rng = np.random.default_rng([request.seed, request.variation])

        def choose(logits: np.ndarray) -> np.ndarray:
            return self.decoder(logits, temperature, top_p, rng)

        generator = Generator(self.client, info, choose, RESTART_EVERY)
        # A melody network writes in C major / A minor: the rules and phrase plans are written for that.
        rules = Rules(mode=style.mode) if info.normalised_key else None
        plan = phrases.plan(bars) if info.position_period else None
        if progress:
            progress(Stage.FIRST_PARTS)
        # A copy: the model's primers stay as they are. Parts start where the primers end.
        rows = Rows(np.array(primers[picks], dtype=np.int32), np.full(3, mood, dtype=np.int32), info.window)
        verse1, chorus, bridge = await generator.write(rows, bars * BAR_STEPS, rules, plan)
        if progress:
            progress(Stage.VERSE_2)
        (verse2,) = await generator.write(rows.row(0), bars * BAR_STEPS, rules, plan)

        parts = {"verse1": verse1, "chorus": chorus, "verse2": verse2, "bridge": bridge}
        named = {name: [info.vocab[i] for i in ids] for name, ids in parts.items()}
        if info.position_period:
            named = {name: one_line(part) for name, part in named.items()}
        tokens, sections = layout(named)
        key = ""
        if info.normalised_key:
            chosen = Key(tonic, style.mode)
            tokens, key = transpose(tokens, to_key(chosen)), chosen.name
        else:
            # Older models lean to major (most of the corpus is); sad and tense songs should sound minor.
            tokens = encode(with_mode(decode(tokens), style.mode), len(tokens))
        return Composition(request, info.version, tuple(tokens), tuple(sections), key)
