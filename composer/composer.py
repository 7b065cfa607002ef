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

A request may name the key, the meter (4/4, 3/4 or 6/8: bgm/meter.py), the lead instrument, a loop,
and a primer (bgm/primer.py): the primer's bars open verse 1, fed to the model as if it had written
them, and the song keeps the primer's meter and its key unless the request names another key.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from bgm import phrases
from bgm.constraints import Rules
from bgm.form import LENGTHS, Section, layout, part_bars
from bgm.harmony import Key, with_mode
from bgm.melody import one_line, to_key, transpose
from bgm.meter import FOUR_FOUR, METERS, Meter, by_name
from bgm.primer import Primer, check_meter, fit_vocab
from bgm.styles import STYLES
from bgm.tokens import decode, encode
from composer.client import ModelClient, ModelInfo
from composer.errors import BgmError, ModelChanged, UnknownMood, UnsupportedMeter
from composer.generation import Generator, Rows
from composer.sampling import sample
from composer.stages import Stage

Progress = Callable[[Stage], None]
Draft = Callable[["Composition"], None]  # the song so far (see ``Composer.compose``)
# A carried state is read afresh from the last window every this many steps (composer/generation.py).
RESTART_EVERY = 8
MAX_SEED = 2**31 - 1  # what Discord's integer options and the seeds drawn here stay within
MAX_VARIATION = 1_000_000


@dataclass(frozen=True)
class ComposeRequest:
    mood: str
    length: str = "medium"
    seed: int | None = None
    variation: int = 0
    tempo: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    key: str | None = None  # e.g. "D minor" (``Key.parse`` reads what people type); None: the mood's
    lead: int | None = None  # the melody's General MIDI program, 0..127; None: the mood's
    loop: bool = False  # the audio loops seamlessly (bgm/loop.py)
    primer: Primer | None = None
    meter: str | None = None  # "4/4", "3/4" or "6/8" (bgm/meter.py); None: the primer's, else 4/4

    def __post_init__(self) -> None:
        # Every option is checked here, so the CLI and the bot refuse the same values in the same words.
        if self.length not in LENGTHS:
            raise BgmError(f"Length must be one of {', '.join(LENGTHS)}.")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise BgmError(f"The seed must be between 0 and {MAX_SEED}.")
        if not 0 <= self.variation <= MAX_VARIATION:
            raise BgmError(f"The variation must be between 0 and {MAX_VARIATION}.")
        if self.key is not None:
            object.__setattr__(self, "key", Key.parse(self.key).name)  # one spelling from here on
        if self.lead is not None and not 0 <= self.lead <= 127:
            raise BgmError("The lead must be a General MIDI program, 1 to 128.")
        if self.tempo is not None and not 30 <= self.tempo <= 240:
            raise BgmError("Tempo must be between 30 and 240 beats per minute.")
        if self.temperature is not None and not 0.05 <= self.temperature <= 3:
            raise BgmError("Temperature must be between 0.05 and 3.")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise BgmError("top-p must be in (0, 1].")
        if self.meter is not None and self.meter not in {m.name for m in METERS}:
            raise BgmError(f"The meter must be one of {', '.join(m.name for m in METERS)}.")
        if self.primer is not None:
            check_meter(self.primer, self.meter)

    @property
    def grid(self) -> Meter:
        """The meter the song is written in: the one asked for, else its primer's, else 4/4."""
        if self.meter is not None:
            return by_name(self.meter)
        return self.primer.grid if self.primer else FOUR_FOUR

    @property
    def signature(self) -> str:
        """The time signature its MIDI file says: the primer's own (2/4 is written on 4/4's grid)."""
        return self.primer.meter if self.primer and self.primer.meter else self.grid.name

    def seeded(self) -> ComposeRequest:
        """This request with a seed drawn when it has none, so the song can be made again."""
        return self if self.seed is not None else replace(self, seed=secrets.randbelow(2**31))

    def to_dict(self) -> dict:
        return {**asdict(self), "primer": self.primer.to_dict() if self.primer else None}

    @classmethod
    def from_dict(cls, data: dict) -> ComposeRequest:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if fields.get("primer") is not None:
            fields["primer"] = Primer.from_dict(fields["primer"])
        return cls(**fields)


@dataclass(frozen=True)
class Composition:
    request: ComposeRequest  # with its seed
    model_version: int
    tokens: tuple[str, ...]
    sections: tuple[Section, ...]
    key: str = ""  # e.g. "D minor" when the composer chose it ("": estimated from the tune when arranged)

    @property
    def bars(self) -> int:
        return len(self.tokens) // self.request.grid.bar

    @property
    def primer_bars(self) -> int:
        """Bars of verse 1 that are the request's primer (it is cut to the part's length)."""
        primer = self.request.primer
        return min(primer.bars, part_bars(self.request.length)) if primer else 0

    def to_dict(self) -> dict:
        return {
            "request": self.request.to_dict(),
            "model_version": self.model_version,
            "tokens": list(self.tokens),
            "sections": [asdict(s) for s in self.sections],
            "key": self.key,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Composition:
        return cls(
            ComposeRequest.from_dict(data["request"]),
            int(data["model_version"]),
            tuple(data["tokens"]),
            tuple(Section(**s) for s in data["sections"]),
            str(data["key"]),
        )


def _in_meter(rules: Rules, meter: Meter) -> Rules:
    """``rules`` for ``meter``: no note held longer than its bar (a whole 4/4 bar is more than one of
    3/4), and the silence that must end counted in its beats (6/8's beat is a dotted quarter)."""
    rest = rules.max_rest * meter.beat // FOUR_FOUR.beat
    return replace(rules, longest=min(rules.longest, meter.bar), max_rest=rest)


class Composer:
    """Composes songs with whatever model the client's server serves."""

    def __init__(self, client: ModelClient, decoder: Callable[..., np.ndarray] = sample) -> None:
        self.client = client
        self.decoder = decoder

    async def compose(
        self, request: ComposeRequest, progress: Progress | None = None, draft: Draft | None = None
    ) -> Composition:
        """The song; ``draft``, when given, is called with the song as far as it is written once
        verse 1, chorus and bridge are (verse 2 left out of the form), so rendering can start."""
        request = request.seeded()
        try:
            return await self._compose(request, await self.client.metadata(), progress, draft)
        except ModelChanged:
            # A new version went live mid-song: start over on it, once.
            return await self._compose(request, await self.client.metadata(), progress, draft)

    async def _compose(
        self, request: ComposeRequest, info: ModelInfo, progress: Progress | None, draft: Draft | None
    ) -> Composition:
        if request.mood not in info.moods:
            raise UnknownMood(request.mood, info.moods)
        meter = request.grid
        if meter.name not in info.meters:
            raise UnsupportedMeter(meter.name, info.version, info.meters)
        style = STYLES[request.mood]
        temperature = request.temperature or style.temperature
        top_p = request.top_p or style.top_p
        bars = part_bars(request.length)
        mood = info.moods.index(request.mood)

        primers = info.primers_for(meter.name)[mood]
        song_rng = np.random.default_rng(request.seed)  # what the seed fixes: primers and key
        picks = song_rng.choice(len(primers), size=3, replace=len(primers) < 3)
        tonic = int(song_rng.choice(style.keys))
        rng = np.random.default_rng([request.seed, request.variation])
        if request.key:
            chosen = Key.from_name(request.key)
        elif request.primer:
            chosen = Key.from_name(request.primer.key)
        else:
            chosen = Key(tonic, style.mode)

        def choose(logits: np.ndarray) -> np.ndarray:
            return self.decoder(logits, temperature, top_p, rng)

        generator = Generator(self.client, info, choose, RESTART_EVERY)
        # A melody network writes in C major / A minor: the rules and phrase plans are written for that.
        lead = style.melody_program if request.lead is None else request.lead
        rules = _in_meter(style.rules(chosen.mode, lead), meter) if info.normalised_key else None
        plan = phrases.plan(bars, style.literal_returns) if info.position_period else None
        steps = bars * meter.bar
        opening = self._opening(request.primer, info, chosen.mode, steps)
        if progress:
            progress(Stage.FIRST_PARTS)
        # A copy: the model's primers stay as they are. Parts start where the primers end.
        rows = Rows(
            np.array(primers[picks], dtype=np.int32), np.full(3, mood, dtype=np.int32), info.window, meter
        )
        verse1, chorus, bridge = await generator.write(rows, steps, rules, plan, opening)
        parts = {"verse1": verse1, "chorus": chorus, "bridge": bridge}
        if draft is not None:
            draft(self._laid_out(request, info, chosen, parts))
        if progress:
            progress(Stage.VERSE_2)
        (verse2,) = await generator.write(rows.row(0), steps, rules, plan)
        return self._laid_out(request, info, chosen, {**parts, "verse2": verse2})

    @staticmethod
    def _laid_out(
        request: ComposeRequest, info: ModelInfo, chosen: Key, parts: dict[str, np.ndarray]
    ) -> Composition:
        """The parts written so far as a song in ``chosen``'s key."""
        named = {name: [info.vocab[i] for i in ids] for name, ids in parts.items()}
        if info.position_period:
            named = {name: one_line(part) for name, part in named.items()}
        tokens, sections = layout(named)
        key = ""
        if info.normalised_key:
            tokens, key = transpose(tokens, to_key(chosen)), chosen.name
        elif not request.primer:
            # Older models lean to major (most of the corpus is); sad and tense songs should sound minor.
            tokens = encode(with_mode(decode(tokens), chosen.mode), len(tokens))
        return Composition(request, info.version, tuple(tokens), tuple(sections), key)

    @staticmethod
    def _opening(
        primer: Primer | None, info: ModelInfo, mode: str, steps: int
    ) -> dict[int, list[int]] | None:
        """Verse 1's first steps, forced: the primer as the model writes (in C major / A minor for a
        key-normalised model), cut to the part's length."""
        if primer is None:
            return None
        tokens = primer.in_normal_key(mode) if info.normalised_key else list(primer.tokens)
        index = {token: i for i, token in enumerate(info.vocab)}
        return {0: [index[t] for t in fit_vocab(tokens[:steps], info.vocab)]}
