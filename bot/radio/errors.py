"""The radio's expected refusals and failures: each one sentence, answered ephemerally."""

from __future__ import annotations

from bgm.errors import BgmError


class RadioError(BgmError):
    """A radio could not start or go on; ``str(error)`` says why, for the user."""
