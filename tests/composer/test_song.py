"""A song's files: MIDI always, audio when both fit in the size given, and why not when they do not."""

from composer import render
from composer.client import ModelClient
from composer.composer import Composer, ComposeRequest
from composer.render import NoAudio
from composer.render_pool import RenderPool
from composer.song import file_stem, make_song

REQUEST = ComposeRequest("calm", "short", seed=4)


async def make(server, tmp_path, max_bytes, request=REQUEST, renderer=None):
    client = ModelClient(server.address)
    try:
        return await make_song(Composer(client), request, tmp_path, max_bytes=max_bytes, renderer=renderer)
    finally:
        await client.close()


def test_file_names_say_how_to_make_the_song_again():
    assert file_stem(ComposeRequest("calm", seed=4)) == "bgm-calm-4"
    assert file_stem(ComposeRequest("sad", seed=4, variation=2)) == "bgm-sad-4-v2"


async def test_audio_that_fits_comes_with_the_midi(server, tmp_path):
    song = await make(server, tmp_path, 10 * 1024 * 1024)
    assert song.files.no_audio is None and song.files.audio.name == "bgm-calm-4.ogg"
    assert song.files.audio.stat().st_size + song.files.midi.stat().st_size < 10 * 1024 * 1024


async def test_when_no_audio_fits_the_midi_comes_alone_and_says_why(server, tmp_path):
    song = await make(server, tmp_path, 8 * 1024)  # barely more than the MIDI
    assert song.files.audio is None and song.files.no_audio is NoAudio.TOO_LARGE
    assert song.files.midi.read_bytes().startswith(b"MThd")


async def test_a_host_without_a_synthesizer_still_gets_the_midi(server, tmp_path, monkeypatch):
    def missing(*args, **kwargs):
        raise FileNotFoundError("the fluidsynth program is not installed")

    monkeypatch.setattr(render.audio, "render", missing)
    song = await make(server, tmp_path, 10 * 1024 * 1024)
    assert song.files.audio is None and song.files.no_audio is NoAudio.UNAVAILABLE


async def test_a_render_pool_makes_the_same_files_in_its_workers(server, tmp_path):
    pool = RenderPool(1)
    try:
        pooled = await make(server, tmp_path / "pooled", 10 * 1024 * 1024, renderer=pool)
    finally:
        pool.close()
    threaded = await make(server, tmp_path / "threaded", 10 * 1024 * 1024)
    assert pooled.files.midi.read_bytes() == threaded.files.midi.read_bytes()
    assert pooled.files.audio is not None


def test_the_worker_imports_nothing_heavy():
    """Spawned render workers must start without TensorFlow, gRPC or discord.py."""
    import subprocess
    import sys

    code = "import sys, composer.render; print(sorted({'tensorflow', 'grpc', 'discord'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
