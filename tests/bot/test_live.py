"""A progress message: the latest text wins, edits never overlap, nothing lands after close."""

import asyncio

from bot.live import LiveText


async def test_only_the_latest_text_is_shown_after_a_burst():
    shown = []

    async def edit(text):
        shown.append(text)
        await asyncio.sleep(0.01)

    live = LiveText(edit, interval=0)
    for i in range(10):
        live.set(str(i))
    await live.flush()
    assert shown == ["9"]  # the edit starts after the burst: the nine before are never sent


async def test_a_failing_edit_does_not_stop_later_ones():
    shown = []

    async def edit(text):
        if text == "bad":
            raise RuntimeError("429")
        shown.append(text)

    live = LiveText(edit, interval=0)
    live.set("bad")
    await live.flush()
    live.set("good")
    await live.flush()
    assert shown == ["good"]


async def test_nothing_is_edited_after_close():
    shown = []

    async def edit(text):
        await asyncio.sleep(0.05)
        shown.append(text)

    live = LiveText(edit, interval=0)
    live.set("progress")
    await live.close()
    live.set("late")
    await asyncio.sleep(0.1)
    assert shown == []
