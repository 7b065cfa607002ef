"""The track record: round trips, families of tracks, and a reopened database."""

from bot.tracks.store import Track, TrackStore
from composer.composer import ComposeRequest


def track(**overrides):
    values = dict(
        user_id=7, user_name="ann", guild_id=1, channel_id=2, request=ComposeRequest("calm", "short", seed=5)
    )
    return Track(**{**values, **overrides})


async def test_a_track_comes_back_as_it_was_recorded(tmp_path):
    store = await TrackStore(tmp_path / "t.sqlite3").open()
    added = await store.add(track())
    assert added.id == 1 and added.root_id == 1
    assert await store.get(added.id) == added
    await store.close()


async def test_updates_fill_in_the_result(tmp_path):
    store = await TrackStore(tmp_path / "t.sqlite3").open()
    added = await store.add(track(request=ComposeRequest("sad")))
    request = ComposeRequest("sad", seed=99)
    await store.update(added.id, request=request, model_version=3, key="A minor", message_id=42, jump_url="u")
    got = await store.get(added.id)
    assert (got.request, got.model_version, got.key, got.message_id, got.jump_url) == (
        request,
        3,
        "A minor",
        42,
        "u",
    )
    await store.close()


async def test_the_record_survives_a_reopen(tmp_path):
    path = tmp_path / "t.sqlite3"
    store = await TrackStore(path).open()
    added = await store.add(track())
    await store.update(added.id, message_id=5)
    await store.close()
    again = await TrackStore(path).open()
    assert (await again.get(added.id)).message_id == 5
    assert await again.count() == 1
    await again.close()


async def test_count_only_counts_posted_tracks_by_default(tmp_path):
    store = await TrackStore(tmp_path / "t.sqlite3").open()
    posted = await store.add(track())
    await store.add(track())
    await store.update(posted.id, message_id=1)
    assert (await store.count(), await store.count(finished=False)) == (1, 2)
    await store.close()


async def test_variations_in_a_family_count_up(tmp_path):
    store = await TrackStore(tmp_path / "t.sqlite3").open()
    first = await store.add(track())
    assert await store.next_variation(first.root_id, 5) == 1
    child = await store.add(
        track(
            request=ComposeRequest("calm", "short", seed=5, variation=1),
            parent_id=first.id,
            root_id=first.root_id,
        )
    )
    assert child.root_id == first.id
    assert await store.next_variation(first.root_id, 5) == 2
    assert await store.next_variation(first.root_id, 6) == 1  # another seed starts again
    await store.close()


async def test_an_unknown_track_is_none(tmp_path):
    store = await TrackStore(tmp_path / "t.sqlite3").open()
    assert await store.get(123) is None
    await store.close()


def test_a_track_round_trips_through_a_dict():
    t = track(id=3, root_id=3, model_version=2)
    assert Track.from_dict(t.to_dict()) == t
