"""Parts generated token by token through the model server, several rows at a time.

Each row is one part being written (verse 1, chorus and bridge share every
Predict). A row's history is its primer followed by what it has written; the
part's first step sits on a phrase's first downbeat (the model's primers end
where a phrase ends), which fixes the position input of every step. A model
with melody inputs also gets, for the step it predicts, the tokens one and
two bars back. A model that carries state (``state_size`` > 0) reads a window
once and then goes one token per Predict, re-reading the last window every
``restart_every`` steps so its state never holds much more history than it
was trained on (the re-read replaces that step's call: the number of Predicts
stays the same).

On top of the model: ``Constraints`` (bgm/constraints.py) adjust the logits
before sampling, and a phrase plan (bgm/phrases.py) forces the bars that
repeat an earlier bar and keeps the rhythm of those that echo one; an
``opening`` (a user's primer, bgm/primer.py) forces a row's first steps. A
forced token is fed to the model as if it had chosen it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bgm import contract, melody
from bgm.constraints import Constraints, Rules
from bgm.contract import ModelInfo
from bgm.meter import FOUR_FOUR, Meter
from bgm.phrases import Plan, echoed, forced
from composer.client import ModelClient

Choose = Callable[[np.ndarray], np.ndarray]


@dataclass
class Rows:
    """Where each row of a generation stands."""

    history: np.ndarray  # int32 [rows, steps so far]: primer, then generated
    moods: np.ndarray  # int32 [rows]
    origin: int  # index in the history of a phrase's first step (where the first part starts)
    meter: Meter = FOUR_FOUR  # the song's: its bar and its range of the position input
    state: np.ndarray | None = None
    logits: np.ndarray | None = None
    stale: bool = True  # the last history token is not yet in the state
    stepped: int = 0  # steps since the state was last read from a window

    def row(self, i: int) -> Rows:
        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[i : i + 1].copy()

        return Rows(
            take(self.history), take(self.moods), self.origin, self.meter, take(self.state),
            take(self.logits), self.stale, self.stepped,
        )  # fmt: skip

    def features(self, info: ModelInfo, at: np.ndarray) -> dict[str, np.ndarray]:
        """Position and lookback inputs for predicting history indices ``at`` (any shape)."""
        if not info.position_period:
            return {}
        offset = melody.position_offset(self.meter)
        position = (offset + (at - self.origin) % self.meter.phrase).astype(np.int32)
        length = int(at.max()) + 1
        steps = melody.lookback_steps(self.meter, info.lookback_steps)
        back = [melody.lookbacks(row, steps, length) for row in self.history]
        rows = np.arange(len(self.history)).reshape((-1,) + (1,) * (at.ndim - 1))
        lookback = np.stack(back)[rows, at]
        return {contract.POSITION: position, contract.LOOKBACK: lookback.astype(np.int32)}


class Generator:
    """Writes parts for one model version: ``client`` answers, ``choose`` samples from logits."""

    def __init__(self, client: ModelClient, info: ModelInfo, choose: Choose, restart_every: int = 8) -> None:
        self.client, self.info, self.choose = client, info, choose
        self.restart_every = restart_every

    async def write(
        self,
        rows: Rows,
        steps: int,
        rules: Rules | None = None,
        plan: Plan | None = None,
        opening: dict[int, list[int]] | None = None,
    ) -> np.ndarray:
        """[rows, steps] token ids continuing each row's history (which moves on with them);
        ``opening[r]``: the ids row ``r`` starts with, whatever the model or the plan would choose."""
        start, bar = rows.history.shape[1], rows.meter.bar
        constraints = None
        if rules is not None:
            constraints = Constraints(self.info.vocab, rules, len(rows.history), cadence=steps - bar)
            constraints.start_from([[self.info.vocab[i] for i in h[-2 * bar :]] for h in rows.history])
        for t in range(steps):
            logits = await self._logits(rows)
            if constraints is not None:
                logits = constraints.apply(logits)
            if constraints is not None and plan is not None:
                for r, part in enumerate(rows.history[:, start:]):
                    echo = echoed(part, t, bar, plan)
                    if echo is not None:
                        logits = constraints.keep_rhythm(logits, r, echo)
            ids = self.choose(logits).astype(np.int32)
            if plan is not None:
                for r in range(len(ids)):
                    copy = forced(rows.history[r, start:].tolist(), t, bar, plan)
                    # A copied bar may open with a rest that, after this bar's ending, would be a
                    # silence over the rules' bound: there the sampled note stands.
                    keeps_time = constraints is None or not constraints.must_strike(r)
                    if copy is not None and (keeps_time or constraints.is_onset[copy]):
                        ids[r] = copy
            for r, forced_ids in (opening or {}).items():
                if t < len(forced_ids):
                    ids[r] = forced_ids[t]
            if constraints is not None:
                constraints.advance(ids)
            rows.history = np.concatenate([rows.history, ids[:, None]], axis=1)
            rows.stale = True
        return rows.history[:, start:]

    async def _logits(self, rows: Rows) -> np.ndarray:
        """Next-token logits of each row: from its last window, or one step on from its state."""
        info, n = self.info, rows.history.shape[1]
        if not info.state_size or rows.state is None or rows.stepped >= self.restart_every:
            at = np.arange(n - info.window + 1, n + 1)[None, :].repeat(len(rows.history), axis=0)
            window = rows.history[:, n - info.window :]
            extra = rows.features(info, at)
            if not info.state_size:
                return await self.client.logits(info.version, window, rows.moods, extra)
            rows.logits, rows.state = await self.client.start(info.version, window, rows.moods, extra)
            rows.stepped, rows.stale = 0, False
        elif rows.stale:
            extra = rows.features(info, np.full(len(rows.history), n))
            rows.logits, rows.state = await self.client.step(
                info.version, rows.history[:, -1], rows.moods, rows.state, extra
            )
            rows.stepped, rows.stale = rows.stepped + 1, False
        return rows.logits
