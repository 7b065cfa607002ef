"""A track's files: MIDI always, audio when it fits the upload limit, a note when it does not."""

from bot import render_worker
from bot.composer import Composer, ComposeRequest
from bot.serving import ModelClient
from bot.songs import NO_AUDIO, TOO_LARGE, produce, stem

REQUEST = ComposeRequest("calm", "short", seed=4)


async def make(server, tmp_path, limit, request=REQUEST):
    client = ModelClient(server.address)
    try:
        return await produce(Composer(client), request, tmp_path, upload_limit=limit)
    finally:
        await client.close()


def test_file_names_say_how_to_make_the_song_again():
    assert stem(ComposeRequest("calm", seed=4)) == "bgm-calm-4"
    assert stem(ComposeRequest("sad", seed=4, variation=2)) == "bgm-sad-4-v2"


async def test_audio_that_fits_comes_with_the_midi(server, tmp_path):
    song = await make(server, tmp_path, 10 * 1024 * 1024)
    assert song.note is None and song.files.audio.name == "bgm-calm-4.ogg"
    assert song.files.audio.stat().st_size + song.files.midi.stat().st_size < 10 * 1024 * 1024


async def test_when_no_audio_fits_the_midi_comes_alone_with_a_note(server, tmp_path):
    song = await make(server, tmp_path, 70 * 1024)  # barely more than the MIDI and the envelope
    assert song.files.audio is None and song.note == TOO_LARGE
    assert song.files.midi.read_bytes().startswith(b"MThd")


async def test_a_host_without_a_synthesizer_still_gets_the_midi(server, tmp_path, monkeypatch):
    def missing(*args, **kwargs):
        raise FileNotFoundError("the fluidsynth program is not installed")

    monkeypatch.setattr(render_worker.audio, "render", missing)
    song = await make(server, tmp_path, 10 * 1024 * 1024)
    assert song.files.audio is None and song.note == NO_AUDIO


def test_the_worker_imports_nothing_heavy():
    """Spawned render workers must start without TensorFlow, gRPC or discord.py."""
    import subprocess
    import sys

    code = (
        "import sys, bot.render_worker; print(sorted({'tensorflow', 'grpc', 'discord'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
