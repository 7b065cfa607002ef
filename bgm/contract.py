"""The model contract: what a bgm SavedModel exports, spelled once for export, server and client.

Signatures (every input and output batched along dim 0, so TF Serving's batching can merge calls):
- ``serving_default`` (``WINDOW_SIGNATURE``, TF Serving's default key): ``tokens`` int32
  [batch, window] and ``mood`` int32 [batch] -> ``logits`` float32 [batch, vocab]; a network that
  carries state (``state_size`` > 0) also returns ``state`` float32 [batch, state_size]. A melody
  network (``position_period`` > 0, bgm/melody.py) also takes ``position`` int32 [batch, window]
  and ``lookback`` int32 [batch, window, k]: for each token, those of the step it predicts.
- ``step`` (``STEP_SIGNATURE``, only with ``state_size`` > 0): ``token`` int32 [batch], ``mood``,
  ``state`` (and ``position`` [batch], ``lookback`` [batch, k]) -> ``logits``, ``state``: one token
  further in constant time (TF Serving is stateless, so the state travels with each request).
- ``metadata`` (``METADATA_SIGNATURE``): ``dummy`` int32 [batch] (ignored) -> per row the fields of
  ``METADATA_FIELDS``, read by ``ModelInfo.from_metadata``.

No TensorFlow and no gRPC here: the names and the typed ``ModelInfo`` are plain Python and numpy.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

# Signature names.
WINDOW_SIGNATURE = "serving_default"
STEP_SIGNATURE = "step"
METADATA_SIGNATURE = "metadata"

# Input names (the Keras inputs are named after them: signature keys come from the names).
TOKENS = "tokens"  # int32 [batch, window]
MOOD = "mood"  # int32 [batch]
TOKEN = "token"  # int32 [batch], step only
STATE = "state"  # float32 [batch, state_size], step input, and output of both model signatures
DUMMY = "dummy"  # int32 [batch], metadata's ignored input
POSITION = "position"  # int32: melody networks only, the position in the phrase of the predicted step
LOOKBACK = "lookback"  # int32 [..., k]: melody networks only, the ids it looks back to (lookback_steps)
MELODY_INPUTS = frozenset({POSITION, LOOKBACK})

# Output names of the window and step signatures (``STATE`` too, when the network carries state).
LOGITS = "logits"  # float32 [batch, vocab]

# Metadata output names: each tiled along the batch, so row 0 holds the value.
VOCAB = "vocab"  # string [vocab]: the token of each id
MOODS = "moods"  # string [moods]: the mood of each id
WINDOW = "window"  # int32: tokens of context the window signature takes
PRIMERS = "primers"  # int32 [moods, primers, window]: start windows from the training data
TOKENIZER_VERSION = "tokenizer_version"  # int32: bgm.tokens.TOKENIZER_VERSION at training time
STATE_SIZE = "state_size"  # int32: 0 unless the network carries state (and has a step signature)
INFO = "info"  # string: JSON of training figures
POSITION_PERIOD = "position_period"  # int32: 0, or the period of the position input (a melody network)
LOOKBACK_STEPS = "lookback_steps"  # int32 [k]: what each lookback input is (bgm/melody.py LOOKBACK)
NORMALISED_KEY = "normalised_key"  # int32: 1 when tunes come out in C major / A minor, to be transposed
METERS = "meters"  # string [meters]: the meters it writes in (bgm/meter.py), 4/4 first
METER_PRIMERS = "meter_primers"  # int32 [meters, moods, primers, window]: start windows in each meter
METADATA_FIELDS = (
    VOCAB, MOODS, WINDOW, PRIMERS, TOKENIZER_VERSION, STATE_SIZE, POSITION_PERIOD, LOOKBACK_STEPS,
    NORMALISED_KEY, METERS, METER_PRIMERS, INFO,
)  # fmt: skip
REQUIRED_METADATA = (VOCAB, MOODS, WINDOW, PRIMERS, INFO)  # the others came later; old versions lack them

# What each signature takes and gives, for checking a loaded version (names only; shapes above).
SIGNATURES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    WINDOW_SIGNATURE: (frozenset({TOKENS, MOOD}), frozenset({LOGITS})),
    METADATA_SIGNATURE: (frozenset({DUMMY}), frozenset(REQUIRED_METADATA)),
}
STEP_IO = (frozenset({TOKEN, MOOD, STATE}), frozenset({LOGITS, STATE}))


@dataclass(frozen=True, eq=False)
class ModelInfo:
    """What one version's ``metadata`` signature says, typed."""

    version: int
    vocab: tuple[str, ...]
    moods: tuple[str, ...]
    window: int
    primers: np.ndarray  # int32 [moods, primers, window]
    info: dict
    state_size: int = 0  # > 0: the model has a ``step`` signature that carries this much state per row
    tokenizer_version: int | None = None
    position_period: int = 0  # > 0: a melody network, which takes position and lookback inputs
    lookback_steps: tuple[int, ...] = ()
    normalised_key: bool = False  # its tunes come out in C major / A minor
    meters: tuple[str, ...] = ("4/4",)  # versions that do not say write in 4/4 only
    meter_primers: np.ndarray | None = None  # [meters, moods, primers, window]; None: ``primers`` only

    def primers_for(self, meter: str) -> np.ndarray:
        """[moods, primers, window]: start windows in ``meter`` (one of ``meters``)."""
        if self.meter_primers is None:
            return self.primers
        return self.meter_primers[self.meters.index(meter)]

    @classmethod
    def from_metadata(cls, version: int, outputs: Mapping[str, np.ndarray]) -> ModelInfo:
        """From a metadata reply's outputs (batched: row 0 is read); ValueError when one is unusable."""
        missing = [name for name in REQUIRED_METADATA if name not in outputs]
        if missing:
            raise ValueError(f"metadata lacks {', '.join(missing)}")
        try:
            row = {name: np.asarray(value)[0] for name, value in outputs.items()}
            return cls(
                version=version,
                vocab=tuple(_text(t) for t in row[VOCAB]),
                moods=tuple(_text(m) for m in row[MOODS]),
                window=int(row[WINDOW]),
                primers=np.asarray(row[PRIMERS], np.int32),
                info=json.loads(_text(row[INFO])),
                state_size=int(row[STATE_SIZE]) if STATE_SIZE in row else 0,
                tokenizer_version=int(row[TOKENIZER_VERSION]) if TOKENIZER_VERSION in row else None,
                position_period=int(row[POSITION_PERIOD]) if POSITION_PERIOD in row else 0,
                lookback_steps=tuple(int(x) for x in row[LOOKBACK_STEPS]) if LOOKBACK_STEPS in row else (),
                normalised_key=bool(int(row[NORMALISED_KEY])) if NORMALISED_KEY in row else False,
                meters=tuple(_text(m) for m in row[METERS]) if METERS in row else ("4/4",),
                meter_primers=np.asarray(row[METER_PRIMERS], np.int32) if METER_PRIMERS in row else None,
            )
        except (TypeError, IndexError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(str(error)) from None


def metadata_values(
    *,
    vocab: tuple[str, ...] | list[str],
    moods: tuple[str, ...] | list[str],
    window: int,
    primers: np.ndarray,
    tokenizer_version: int,
    state_size: int,
    info: dict,
    position_period: int = 0,
    lookback_steps: tuple[int, ...] = (),
    meter_primers: dict[str, np.ndarray] | None = None,
) -> dict[str, object]:
    """The metadata signature's values, keyed by their output names (export tiles each along the batch).
    ``meter_primers``: each meter's start windows, 4/4's first (default: ``primers``, in 4/4)."""
    meter_primers = meter_primers or {"4/4": primers}
    return {
        VOCAB: list(vocab),
        MOODS: list(moods),
        WINDOW: int(window),
        PRIMERS: np.asarray(primers, np.int32),
        TOKENIZER_VERSION: int(tokenizer_version),
        STATE_SIZE: int(state_size),
        POSITION_PERIOD: int(position_period),
        LOOKBACK_STEPS: np.asarray(lookback_steps, np.int32),
        NORMALISED_KEY: int(position_period > 0),
        METERS: list(meter_primers),
        METER_PRIMERS: np.stack([np.asarray(p, np.int32) for p in meter_primers.values()]),
        INFO: json.dumps(info),
    }


def problems(signatures: Mapping[str, tuple[Collection[str], Collection[str]]]) -> list[str]:
    """How a version's signatures ({name: (input names, output names)}) break the contract, or []."""
    found = []
    for name, (inputs, outputs) in SIGNATURES.items():
        if name not in signatures:
            found.append(f"no {name!r} signature")
            continue
        found += _io_problems(name, (inputs, outputs), signatures[name])
    if STEP_SIGNATURE in signatures:
        found += _io_problems(STEP_SIGNATURE, STEP_IO, signatures[STEP_SIGNATURE])
    return found


def _io_problems(name: str, wanted, got) -> list[str]:
    (want_in, want_out), (got_in, got_out) = wanted, got
    found = []
    allowed = [set(want_in)]
    if name != METADATA_SIGNATURE:
        allowed.append(set(want_in) | MELODY_INPUTS)  # a melody network takes these besides
    if set(got_in) not in allowed:
        found.append(f"{name!r} takes {sorted(got_in)}, not {sorted(want_in)}")
    if missing := sorted(set(want_out) - set(got_out)):
        found.append(f"{name!r} lacks the outputs {missing}")
    return found


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
