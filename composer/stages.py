"""The stages a song goes through, as the composer reports them (the CLI and the bot word them)."""

from __future__ import annotations

from enum import Enum


class Stage(Enum):
    FIRST_PARTS = "composing verse 1, chorus and bridge"  # generated together, one row each
    VERSE_2 = "composing verse 2"  # continues verse 1
    RENDERING = "rendering MIDI and audio"
