"""``bgm train`` in its own process, one at a time, followed through its progress events.

The bot never imports ``training``: it runs the command line with ``--json-progress`` and reads the
``bgm.progress`` events training writes on stdout (other lines are for people and ignored); on
failure it reports the last line of stderr (``bgm train: <sentence>``). The subprocess publishes
atomically, so a failed or cancelled run leaves the live model as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

from bgm import progress as events
from bgm.errors import BgmError

SECRET_ENV = ("DISCORD_TOKEN", "BGM_DISCORD_TOKEN")  # training has no business with the bot's token
KILL_GRACE_S = 10.0
GATE_REFUSED = 3  # bgm train's exit status when the quality gate keeps the live model


class TrainingFailed(BgmError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Training failed: {reason}")


class TrainingRefused(TrainingFailed):
    """Training finished, but the quality gate kept the live model (``bgm train`` exit status 3)."""

    def __init__(self, gate: events.GateJudged) -> None:
        self.gate = gate
        BgmError.__init__(self, f"The quality gate kept the live model: {gate.reason}.")
        self.reason = gate.reason


class TrainingCancelled(BgmError):
    def __init__(self, by: str) -> None:
        self.by = by
        super().__init__(f"Training was cancelled by {by}; the live model stays.")


class TrainingBusy(BgmError):
    def __init__(self, progress: TrainProgress) -> None:
        self.progress = progress
        super().__init__(f"A training is already running (started by {progress.requested_by}).")


class Phase(Enum):
    PREPARING = "preparing"  # reading the music, before the first epoch
    TRAINING = "training"
    EXPORTING = "exporting"
    PUBLISHED = "published"
    FAILED = "failed"
    REFUSED = "refused"  # trained, but the quality gate kept the live model
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TrainRequest:
    data: Path
    epochs: int
    from_scratch: bool
    requested_by: str


@dataclass(frozen=True)
class TrainProgress:
    """Where a training stands; a new value for each event that changes it."""

    requested_by: str
    epochs: int
    phase: Phase = Phase.PREPARING
    epoch: int = 0
    windows: int | None = None
    last_epoch: events.EpochEnded | None = None  # the figures of the last finished epoch
    version: int | None = None
    reason: str | None = None
    started_at: float = field(default_factory=time.time)
    gate: events.GateJudged | None = None  # the quality gate's verdict, once training has one


def advance(progress: TrainProgress, event: events.Event) -> TrainProgress:
    """``progress`` after one of training's events."""
    match event:
        case events.EpochStarted():
            return replace(
                progress, phase=Phase.TRAINING, epoch=event.epoch, epochs=event.epochs, windows=event.windows
            )
        case events.EpochEnded():
            return replace(progress, last_epoch=event)
        case events.EarlyStopped() | events.Exporting():
            return replace(progress, phase=Phase.EXPORTING)
        case events.GateJudged():
            return replace(progress, gate=event)
        case events.Published():
            return replace(progress, phase=Phase.PUBLISHED, version=event.version)
    return progress


def training_env() -> dict[str, str]:
    """The bot's environment without its Discord token, for the commands it runs."""
    return {k: v for k, v in os.environ.items() if k not in SECRET_ENV}


def failure_reason(stderr: list[str], returncode: int) -> str:
    """One sentence from what training wrote last: its own ``bgm train:`` line, else the last line."""
    lines = [line.strip() for line in stderr if line.strip()]
    for line in reversed(lines):
        for prefix in ("bgm train:", "bgm models:"):
            if line.startswith(prefix):
                return line.removeprefix(prefix).strip()[:300]
    if returncode < 0:
        return f"the training process was killed by signal {-returncode} (out of memory?)"
    if lines:
        return lines[-1][:300]
    return f"the training process exited with code {returncode}"


class TrainingRunner:
    """Starts ``command + arguments`` for one request at a time and follows it to the end."""

    def __init__(
        self,
        command: list[str],
        models_dir: Path,
        work_dir: Path,
        extra_args: list[str] | tuple[str, ...] = (),
        timeout_s: float = 6 * 3600,
    ) -> None:
        self.command, self.models_dir, self.work_dir = list(command), models_dir, work_dir
        self.extra_args, self.timeout_s = list(extra_args), timeout_s
        self.current: TrainProgress | None = None
        self.last: TrainProgress | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._cancelled_by: str | None = None

    @property
    def busy(self) -> bool:
        return self.current is not None

    def arguments(self, request: TrainRequest) -> list[str]:
        args = [
            "--data",
            str(request.data),
            "--models",
            str(self.models_dir),
            "--epochs",
            str(request.epochs),
        ]
        args += ["--run-dir", str(self.work_dir / "run"), "--cache-dir", str(self.work_dir / "cache")]
        args += ["--json-progress"]
        if not request.from_scratch:
            args += ["--from", "latest"]
        return args + self.extra_args

    async def run(self, request: TrainRequest, on_progress: Callable[[TrainProgress], None]) -> int:
        """Train and publish; the new version number, or ``TrainingFailed``/``TrainingCancelled``."""
        if self.current is not None:
            raise TrainingBusy(self.current)
        # Claimed before the first await: two commands arriving together cannot both start.
        self.current = progress = TrainProgress(request.requested_by, request.epochs)
        self._cancelled_by = None

        def update(new: TrainProgress) -> None:
            nonlocal progress
            progress = self.current = new
            on_progress(new)

        try:
            version = await self._run(request, lambda: progress, update)
        except TrainingCancelled as error:
            self.last = replace(progress, phase=Phase.CANCELLED, reason=str(error))
            raise
        except TrainingFailed as error:
            self.last = replace(
                progress,
                phase=Phase.REFUSED if isinstance(error, TrainingRefused) else Phase.FAILED,
                reason=error.reason,
            )
            raise
        else:
            self.last = progress
            return version
        finally:
            self.current, self._process = None, None

    async def _run(self, request: TrainRequest, get, update) -> int:
        env = training_env()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # Its own session, so cancelling reaches the parsing workers training may have forked.
        self._process = process = await asyncio.create_subprocess_exec(
            *self.command,
            *self.arguments(request),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
            limit=1024 * 1024,
        )
        if self._cancelled_by is not None:
            await self._stop(process)
        stderr: deque[str] = deque(maxlen=40)

        async def follow_stdout() -> None:
            async for raw in process.stdout:
                event = events.from_line(raw.decode(errors="replace"))
                if event is not None:
                    update(advance(get(), event))

        async def follow_stderr() -> None:
            async for raw in process.stderr:
                stderr.append(raw.decode(errors="replace"))

        try:
            await asyncio.wait_for(
                asyncio.gather(follow_stdout(), follow_stderr(), process.wait()), self.timeout_s
            )
        except TimeoutError:
            await self._stop(process)
            raise TrainingFailed(f"it ran longer than {self.timeout_s / 3600:g} h and was stopped") from None
        except asyncio.CancelledError:
            await self._stop(process)  # the bot is closing: leave no orphan behind
            raise
        final = get()
        if process.returncode == 0 and final.phase is Phase.PUBLISHED and final.version is not None:
            return final.version  # even if a cancel came in too late: the version is out
        if self._cancelled_by is not None:
            raise TrainingCancelled(self._cancelled_by)
        if process.returncode == GATE_REFUSED and final.gate is not None and not final.gate.accepted:
            raise TrainingRefused(final.gate)
        if process.returncode != 0:
            raise TrainingFailed(failure_reason(list(stderr), process.returncode))
        raise TrainingFailed("training ended without publishing a model version")

    async def cancel(self, by: str) -> bool:
        """Stop the running training (False when none is running or it already finished)."""
        process = self._process
        if self.current is None or (process is not None and process.returncode is not None):
            return False
        self._cancelled_by = by
        if process is not None:  # else it is stopped as soon as it has started
            await self._stop(process)
        return True

    async def _stop(self, process: asyncio.subprocess.Process) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()), KILL_GRACE_S)
                return
            except TimeoutError:
                continue
