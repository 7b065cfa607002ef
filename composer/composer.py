"""The composer: a song's parts generated token by token through the model server.

The seed's form (bgm/form.py): verse 1, chorus and bridge are independent, so
they are generated together, one row each, in one Predict per step; verse 2
continues verse 1 and follows in a second pass. A model with a ``step``
signature (``state_size`` > 0) carries its state from token to token, so most
steps send one token per row instead of a whole window, and verse 2 goes on
from verse 1's state. A request's seed fixes the primers and the sampling, so
the same seed on the same model version gives the same song; ``variation``
keeps the primers and redraws the sampling.
The finished song is moved to the parallel mode its mood calls for.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from bgm.form import LENGTHS, Section, layout, part_steps
from bgm.harmony import with_mode
from bgm.styles import STYLES
from bgm.tokens import decode, encode
from composer.client import ModelClient, ModelInfo
from composer.errors import BgmError, ModelChanged, UnknownMood
from composer.sampling import sample
from composer.stages import Stage

Progress = Callable[[Stage], None]
# A carried state is read afresh from the last window every this many steps: the causal network was
# trained on windows, so its state should never hold much more history than a window (a song's part
# is 4-6 windows long, and a state carried through all of it drifts into wandering melodies). The
# window call replaces that step's call, so the number of Predicts stays the same.
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
        steps = part_steps(request.length, info.window)
        mood = info.moods.index(request.mood)

        primers = info.primers[mood]
        picks = np.random.default_rng(request.seed).choice(len(primers), size=3, replace=len(primers) < 3)
        rng = np.random.default_rng([request.seed, request.variation])

        def choose(logits: np.ndarray) -> np.ndarray:
            return self.decoder(logits, temperature, top_p, rng)

        if progress:
            progress(Stage.FIRST_PARTS)
        # A copy: the model's primers stay as they are.
        context = _Context(np.array(primers[picks], dtype=np.int32), np.full(3, mood, dtype=np.int32))
        verse1, chorus, bridge = await self._generate(info, context, steps, choose)
        if progress:
            progress(Stage.VERSE_2)
        (verse2,) = await self._generate(info, context.row(0), steps, choose)

        parts = {"verse1": verse1, "chorus": chorus, "verse2": verse2, "bridge": bridge}
        tokens, sections = layout({name: [info.vocab[i] for i in ids] for name, ids in parts.items()})
        # The model leans to major (most of the corpus is); sad and tense songs should sound minor.
        tokens = encode(with_mode(decode(tokens), style.mode), len(tokens))
        return Composition(request, info.version, tuple(tokens), tuple(sections))

    async def _generate(
        self, info: ModelInfo, context: _Context, steps: int, choose: Callable[[np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """[rows, steps] token ids continuing each row of ``context``, which moves on with them."""
        out = np.empty((len(context.window), steps), dtype=np.int32)
        for t in range(steps):
            ids = choose(await self._logits(info, context)).astype(np.int32)
            out[:, t] = ids
            context.window = np.concatenate([context.window[:, 1:], ids[:, None]], axis=1)
            context.pending = ids
        return out

    async def _logits(self, info: ModelInfo, context: _Context) -> np.ndarray:
        """Next-token logits of each row: from its window, or one step on from its carried state."""
        if not info.state_size:
            return await self.client.logits(info.version, context.window, context.moods)
        if context.state is None or context.stepped >= RESTART_EVERY:
            context.logits, context.state = await self.client.start(
                info.version, context.window, context.moods
            )
            context.stepped = 0
        elif context.pending is not None:
            context.logits, context.state = await self.client.step(
                info.version, context.pending, context.moods, context.state
            )
            context.stepped += 1
        context.pending = None
        return context.logits


@dataclass
class _Context:
    """Where each row of a generation stands: its last window and, for a model that carries state,
    its state and logits; ``pending`` tokens are chosen but not yet fed to the state."""

    window: np.ndarray  # int32 [rows, window]
    moods: np.ndarray  # int32 [rows]
    state: np.ndarray | None = None
    logits: np.ndarray | None = None
    pending: np.ndarray | None = None
    stepped: int = 0  # steps since the state was last read from a window

    def row(self, i: int) -> _Context:
        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[i : i + 1]

        rows = (take(a) for a in (self.window, self.moods, self.state, self.logits, self.pending))
        return _Context(*rows, stepped=self.stepped)
