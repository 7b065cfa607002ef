"""The base of bgm's expected errors (the composer's, the queue's, uploads', training's)."""

from __future__ import annotations


class BgmError(Exception):
    """An expected failure; ``str(error)`` is one sentence for the user."""
