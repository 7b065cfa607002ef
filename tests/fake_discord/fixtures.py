"""Ready-made pytest fixtures. Use them from a test module or a conftest::

from tests.fake_discord.fixtures import fake_discord  # noqa: F401

async def test_something(fake_discord):
    ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .server import FakeDiscord


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started :class:`FakeDiscord` with discord.py patched to use it (both undone afterwards)."""
    async with FakeDiscord() as fake:
        yield fake
