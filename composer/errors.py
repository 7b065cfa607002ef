"""Expected errors of the song path, each with a message fit to show a user."""

from __future__ import annotations

from bgm.errors import BgmError

__all__ = ["BgmError", "ModelChanged", "ModelError", "ServerUnavailable", "UnknownMood", "UnsupportedMeter"]


class ServerUnavailable(BgmError):
    def __init__(self, target: str, detail: str = "") -> None:
        self.target, self.detail = target, detail
        super().__init__(f"The model server at {target} is not answering; try again in a minute.")


class ModelError(BgmError):
    """The server answered, but not with what the model contract promises."""


class ModelChanged(BgmError):
    """The version a song started on was unloaded mid-song (a new one went live)."""

    def __init__(self, version: int) -> None:
        self.version = version
        super().__init__(f"Model version {version} was replaced while composing.")


class UnknownMood(BgmError):
    def __init__(self, mood: str, moods: tuple[str, ...]) -> None:
        self.mood, self.moods = mood, moods
        super().__init__(f"Unknown mood {mood!r}; choose one of: {', '.join(moods)}.")


class UnsupportedMeter(BgmError):
    """A primer's meter that the live model has not learnt (one trained before 3/4 and 6/8)."""

    def __init__(self, meter: str, version: int, meters: tuple[str, ...]) -> None:
        self.meter, self.version, self.meters = meter, version, meters
        super().__init__(
            f"Model version {version} writes in {', '.join(meters)} only, not {meter}; "
            "teach it with `bgm train --from latest --add-meters 3/4,6/8`."
        )
