"""``/bgm compose``'s options for a song your way, through the real client against the fake Discord:
key, lead (with autocomplete), loop and a primer attachment; the Stems button; the piano roll as the
embed's image; and each option out of range or bad attachment answered privately in one sentence."""

from __future__ import annotations

import io
import zipfile

import mido
import pytest
import soundfile as sf

from bgm.styles import STYLES
from bot.tracks import maker
from tests.bgm.test_primer import BAD, TUNE, midi_bytes
from tests.bot import test_discord
from tests.bot.test_discord import SONG_S, bot_against, fields, has_song
from tests.fake_discord import FakeDiscord, Upload

BAR_TICKS = 4 * 480
# The read-only tests share one `bgm serve` on the tiny model, as tests/bot/test_discord.py's do.
shared_server, restore_discord = test_discord.shared_server, test_discord.restore_discord


def melody_track(midi: bytes) -> tuple[int, list[tuple[int, int]]]:
    track = next(t for t in mido.MidiFile(file=io.BytesIO(midi)).tracks if t.name == "melody")
    now, program, notes = 0, None, []
    for message in track:
        now += message.time
        if message.type == "program_change":
            program = message.program
        elif message.type == "note_on" and message.velocity:
            notes.append((now, message.note))
    return program, notes


async def test_key_lead_loop_and_primer_shape_the_posted_song_and_stems_follow(
    shared_server, tmp_path, restore_discord, monkeypatch
):
    stem_renders = []
    song_renderer = maker.song_renderer

    def counted(*args, **kwargs):
        stem_renders.extend([args[1]] if kwargs.get("stems") else [])
        return song_renderer(*args, **kwargs)

    monkeypatch.setattr(maker, "song_renderer", counted)
    primer = Upload("ode.mid", midi_bytes([(beat + 3, pitch, beats) for beat, pitch, beats in TUNE]))
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path / "data"):
        options = dict(mood="calm", length="short", seed=7, key="D minor", lead="violin", loop=True)
        inter = await fake.invoke_slash("bgm compose", options=options, attachments={"primer": primer},
                                        user=fake.regular)  # fmt: skip
        await fake.wait_for(lambda: inter.original is not None and has_song(inter.original), SONG_S)
        message = inter.original
        details = fields(message)
        assert (details["Key"], details["Lead"], details["Loop"]) == (
            "D minor",
            "Violin",
            "seamless, whole bars",
        )
        assert details["Primer"] == "`ode.mid` (D major)"
        files = message.files
        assert message.embeds[0]["image"]["url"] == "attachment://bgm-calm-7.png"
        assert files["bgm-calm-7.png"].startswith(b"\x89PNG")
        program, notes = melody_track(files["bgm-calm-7.mid"])
        assert program == 40
        # The primer in D major, moved to the D minor asked for: its F# became F, its C# stayed.
        minor = {66: 65, 78: 77}
        expected = [(round((beat + 3) * 480), minor.get(pitch, pitch)) for beat, pitch, _ in TUNE]
        assert [n for n in notes if n[0] < 3 * BAR_TICKS] == expected
        audio, rate = sf.read(io.BytesIO(files["bgm-calm-7.ogg"]), dtype="float32")
        bars = mido.MidiFile(file=io.BytesIO(files["bgm-calm-7.mid"])).length * STYLES["calm"].tempo / 240
        assert len(audio) == round(bars) * 240 * rate // STYLES["calm"].tempo  # whole bars, to the sample
        assert message.custom_ids == ["bgm:regen:1", "bgm:var:1", "bgm:stems:1"]

        # Two people click Stems at once: one render, and both get its zip.
        click = await fake.click_button(message, "bgm:stems:1", user=fake.regular)
        rival = await fake.click_button(message, "bgm:stems:1", user=fake.admin)
        await fake.wait_for(
            lambda: all(c.followups and c.followups[-1].attachments for c in (click, rival)), SONG_S
        )
        posted = click.followups[-1]
        assert rival.followups[-1].files == posted.files
        assert posted.content.startswith("🎚️ Stems of track #1, one file per part: melody, harmony, bass.")
        with zipfile.ZipFile(io.BytesIO(posted.files["bgm-calm-7-stems.zip"])) as archive:
            names = sorted(archive.namelist())
            assert names == ["bgm-calm-7-bass.ogg", "bgm-calm-7-harmony.ogg", "bgm-calm-7-melody.ogg"]
            lengths = {len(sf.read(io.BytesIO(archive.read(n)))[0]) for n in names}
        assert lengths == {len(audio)}
        assert len(stem_renders) == 1

        # A second click posts the same zip, kept from the first, without rendering anything.
        again = await fake.click_button(message, "bgm:stems:1", user=fake.regular)
        await fake.wait_for(lambda: again.followups and again.followups[-1].attachments, SONG_S)
        assert again.followups[-1].content == posted.content
        assert again.followups[-1].files == posted.files
        assert len(stem_renders) == 1
        fake.assert_no_unknown_routes()


@pytest.fixture(scope="module")
def meter_server(tiny_meter_models, tmp_path_factory):
    """`bgm serve` on a tiny model that writes in 3/4 and 6/8 too."""
    server = test_discord.ServeProcess(
        test_discord.copy_models(tiny_meter_models, tmp_path_factory.mktemp("m"))
    )
    yield server
    server.stop()


async def test_a_jig_primer_gives_a_song_in_6_8_that_loops_on_its_bars(
    meter_server, tmp_path, restore_discord
):
    jig = Upload("jig.mid", midi_bytes(TUNE, numerator=6, denominator=8))
    async with FakeDiscord() as fake, bot_against(fake, meter_server, tmp_path / "data"):
        options = dict(mood="playful", length="short", seed=3, loop=True)
        inter = await fake.invoke_slash("bgm compose", options=options, attachments={"primer": jig},
                                        user=fake.regular)  # fmt: skip
        await fake.wait_for(lambda: inter.original is not None and has_song(inter.original), SONG_S)
        message = inter.original
        assert (fields(message)["Primer"], fields(message)["Meter"]) == ("`jig.mid` (D major)", "6/8")
        midi = mido.MidiFile(file=io.BytesIO(message.files["bgm-playful-3.mid"]))
        signatures = [(m.numerator, m.denominator) for m in midi.tracks[0] if m.type == "time_signature"]
        assert signatures == [(6, 8)]
        _, notes = melody_track(message.files["bgm-playful-3.mid"])
        jig_bar = 3 * 480  # six eighths
        assert [n for n in notes if n[0] < 2 * jig_bar] == [(round(b * 480), p) for b, p, _ in TUNE if b < 6]
        audio, rate = sf.read(io.BytesIO(message.files["bgm-playful-3.ogg"]), dtype="float32")
        tempo = STYLES["playful"].tempo  # quarter notes a minute: a 6/8 bar is three of them
        bar_samples = 3 * 60 * rate / tempo
        assert abs(len(audio) - 4 * 6 * bar_samples) <= 1  # whole bars (six sections of 4), to the sample
        fake.assert_no_unknown_routes()


async def test_a_waltz_asked_for_is_in_3_4_and_a_primer_in_another_meter_is_refused_privately(
    meter_server, tmp_path, restore_discord
):
    async with FakeDiscord() as fake, bot_against(fake, meter_server, tmp_path / "data"):
        inter = await fake.invoke_slash(
            "bgm compose", options=dict(mood="calm", length="short", seed=5, meter="3/4"), user=fake.regular
        )
        await fake.wait_for(lambda: inter.original is not None and has_song(inter.original), SONG_S)
        assert fields(inter.original)["Meter"] == "3/4"
        midi = mido.MidiFile(file=io.BytesIO(inter.original.files["bgm-calm-5.mid"]))
        assert [(m.numerator, m.denominator) for m in midi.tracks[0] if m.type == "time_signature"] == [
            (3, 4)
        ]
        assert sum(m.time for m in midi.tracks[0]) % (3 * 480) == 0  # whole 3/4 bars

        jig = Upload("jig.mid", midi_bytes(TUNE, numerator=6, denominator=8))
        refused = await fake.invoke_slash(
            "bgm compose",
            options=dict(mood="calm", meter="3/4"),
            attachments={"primer": jig},
            user=fake.regular,
        )
        refusal = await fake.wait_for(
            lambda: next((m for m in [refused.original, *refused.followups] if m and m.ephemeral), None), 60
        )
        assert refusal.content == (
            "❌ The primer `jig.mid` is in 6/8, so the song opening with it is too; leave out the meter or "
            "ask for 6/8. Nothing was composed."
        )
        assert len([m for m in fake.channel_messages() if not m.ephemeral and m.attachments]) == 1


async def test_lead_and_key_autocomplete(shared_server, tmp_path, restore_discord):
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path):
        lead = await fake.autocomplete(
            "bgm compose", focused="lead", options={"mood": "calm", "lead": "viol"}
        )
        await fake.wait_for(lambda: lead.choices is not None, 10)
        assert [c["name"] for c in lead.choices][:2] == ["Violin", "Viola"]
        key = await fake.autocomplete("bgm compose", focused="key", options={"mood": "calm", "key": "d"})
        await fake.wait_for(lambda: key.choices is not None, 10)
        assert [c["value"] for c in key.choices] == ["D major", "D minor", "Db major"]


@pytest.mark.parametrize(
    "options, said",
    [
        ({"key": "H minor"}, "❌ 'H minor' is not a key; write one like \"D minor\""),
        ({"lead": "kazoo"}, "❌ 'kazoo' is not a General MIDI instrument; did you mean"),
        ({"tempo": 500}, "❌ Tempo must be between 30 and 240 beats per minute."),
        ({"seed": -1}, "❌ The seed must be between 0 and 2147483647."),
    ],
)
async def test_an_option_out_of_range_is_answered_privately(
    options, said, shared_server, tmp_path, restore_discord
):
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path):
        inter = await fake.invoke_slash(
            "bgm compose", options={"mood": "calm", **options}, user=fake.regular, validate=False
        )
        message = await fake.wait_for_response(inter)
        assert message.ephemeral and message.content.startswith(said), message.content
        assert not [m for m in fake.channel_messages() if not m.ephemeral and not m.deleted and m.attachments]


async def test_bad_primers_get_a_private_reason_and_touch_nothing(shared_server, tmp_path, restore_discord):
    data = tmp_path / "data"
    async with FakeDiscord() as fake, bot_against(fake, shared_server, data) as bot:
        for name, body, reason in BAD.values():
            inter = await fake.invoke_slash(
                "bgm compose", options={"mood": "calm", "length": "short"},
                attachments={"primer": Upload(name, body)}, user=fake.regular,
            )  # fmt: skip
            refusal = await fake.wait_for(
                lambda i=inter: next((m for m in [i.original, *i.followups] if m and m.ephemeral), None), 60
            )
            assert refusal.content.startswith(f"❌ The primer `{name}` ") and reason in refusal.content
        # Nothing public is left, nothing was queued or recorded, and no file was written for them.
        assert not [m for m in fake.channel_messages() if not m.ephemeral]
        assert bot.queue.waiting == 0 and await bot.store.count() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    assert not (data / "songs").exists()
