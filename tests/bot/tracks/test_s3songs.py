"""Songs in an S3-compatible bucket (moto's server over HTTP): kept, read back, listed, pruned by the
same retention as the local folder, and every failure of the store said in one sentence."""

from __future__ import annotations

import pytest

from bot.tracks.s3songs import S3Songs, s3_client
from bot.tracks.songs import RECORD, Retention, SongsUnavailable, prune
from tests.bot.conftest import KEYS, MotoServer, free_port

DAY = 86400.0


def render(songs: S3Songs, track_id: int, size: int) -> None:
    """What the track maker leaves in the scratch folder: the audio, the MIDI and the record."""
    folder = songs.folder(track_id)
    folder.mkdir(parents=True)
    (folder / "song.ogg").write_bytes(b"o" * size)
    (folder / "song.mid").write_bytes(b"m" * size)
    (folder / RECORD).write_text(f'{{"track": {track_id}}}')


def store(server: MotoServer, tmp_path, bucket: str | None = None) -> S3Songs:
    return S3Songs(server.client(), bucket or server.bucket(), tmp_path / "scratch", where=server.url)


async def test_a_kept_song_is_uploaded_read_back_and_listed_and_leaves_the_scratch(s3_store, tmp_path):
    songs = store(s3_store, tmp_path)
    render(songs, 7, 100)
    await songs.keep(7)
    assert s3_store.objects(songs.bucket) == ["songs/7/song.json", "songs/7/song.mid", "songs/7/song.ogg"]
    assert not songs.folder(7).exists()  # uploaded, so no longer on this machine's disk
    assert await songs.read(7, RECORD) == b'{"track": 7}'
    assert await songs.read(7, "song.ogg") == b"o" * 100
    [stored] = await songs.stored()
    assert (stored.track_id, stored.size) == (7, 2 * 100 + len('{"track": 7}'))


async def test_a_file_or_song_that_is_not_kept_reads_as_none(s3_store, tmp_path):
    songs = store(s3_store, tmp_path)
    render(songs, 1, 3)
    await songs.keep(1)
    assert await songs.read(1, "nothing.here") is None
    assert await songs.read(2, RECORD) is None
    await songs.remove(1)
    assert await songs.read(1, RECORD) is None and await songs.stored() == []


async def test_only_songs_under_the_prefix_are_listed(s3_store, tmp_path):
    songs = store(s3_store, tmp_path)
    songs.client.put_object(Bucket=songs.bucket, Key="songs/not-a-song/x", Body=b"x")
    songs.client.put_object(Bucket=songs.bucket, Key="elsewhere/3/song.json", Body=b"{}")
    render(songs, 4, 1)
    await songs.keep(4)
    assert [s.track_id for s in await songs.stored()] == [4]


async def test_retention_removes_the_oldest_past_the_count(s3_store, tmp_path):
    songs = store(s3_store, tmp_path)
    for track_id in (1, 2, 3):
        render(songs, track_id, 10)
        await songs.keep(track_id)
    assert await prune(songs, Retention(max_songs=2)) == [1]
    assert [s.track_id for s in await songs.stored()] == [2, 3]
    assert not any(key.startswith("songs/1/") for key in s3_store.objects(songs.bucket))


async def test_retention_removes_the_oldest_past_the_total_size(s3_store, tmp_path):
    songs = store(s3_store, tmp_path)
    for track_id in (1, 2, 3):
        render(songs, track_id, 100)
        await songs.keep(track_id)
    song_bytes = (await songs.stored())[0].size
    assert await prune(songs, Retention(max_bytes=2 * song_bytes + 1)) == [1]
    assert await prune(songs, Retention(max_bytes=song_bytes - 1)) == [2, 3]
    assert s3_store.objects(songs.bucket) == []


async def test_retention_removes_songs_past_their_age_by_the_objects_dates(s3_store, tmp_path):
    songs = store(s3_store, tmp_path)
    for track_id in (1, 2):
        render(songs, track_id, 10)
        await songs.keep(track_id)
    made = max(s.made_at for s in await songs.stored())
    assert await prune(songs, Retention(max_age_s=DAY), now=made + DAY / 2) == []
    assert await prune(songs, Retention(max_age_s=DAY), now=made + 2 * DAY) == [1, 2]
    assert await songs.stored() == []


async def test_removing_a_song_removes_its_stems_kept_on_this_machine(s3_store, tmp_path):
    songs = store(s3_store, tmp_path)
    render(songs, 5, 1)
    await songs.keep(5)
    (songs.folder(5) / "stems").mkdir(parents=True)  # a Stems click after the song was kept
    await songs.remove(5)
    assert not songs.folder(5).exists()


async def test_the_store_down_is_one_sentence_and_the_scratch_is_still_emptied(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    songs = S3Songs(s3_client(url, "us-east-1", **KEYS), "songs", tmp_path, where=url)
    render(songs, 1, 10)
    expected = f"The song store at {url} cannot be reached."
    for call in (songs.keep(1), songs.read(1, RECORD), songs.stored(), songs.remove(1)):
        with pytest.raises(SongsUnavailable) as raised:
            await call
        assert str(raised.value) == expected and raised.value.__cause__ is None
    assert not songs.folder(1).exists()


async def test_a_missing_bucket_is_named(s3_store, tmp_path):
    songs = store(s3_store, tmp_path, bucket="no-such-bucket")
    with pytest.raises(SongsUnavailable) as raised:
        await songs.stored()
    assert str(raised.value) == f"The song store at {s3_store.url} has no bucket named no-such-bucket."
    with pytest.raises(SongsUnavailable, match="has no bucket"):
        await songs.check()


async def test_refused_credentials_are_said_without_the_keys(tmp_path):
    server = MotoServer(check_keys=True)  # every request checked against moto's IAM, which has no users
    try:
        secret = "wJalrXUtnFEMI-not-a-real-secret"
        client = s3_client(server.url, "us-east-1", "AKIDNOTAKEY", secret)
        songs = S3Songs(client, "b", tmp_path, where=server.url)
        with pytest.raises(SongsUnavailable) as raised:
            await songs.read(1, RECORD)
    finally:
        server.stop()
    text = str(raised.value)
    assert text == f"The song store at {server.url} refused the bot's credentials (InvalidAccessKeyId)."
    assert secret not in text and "AKID" not in text
