"""``bgm compose``'s options for a song your way, with the shipped default model: a primer, a key, a
lead instrument, a seamless loop, stems and a picture; and every option out of range refused in one
sentence with exit status 2 before anything starts."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
from music21 import converter

from bgm.harmony import Key
from bgm.loop import seam_step
from bgm.styles import STYLES
from cli.main import main
from tests.bgm.test_primer import BAD, TUNE, midi_bytes

ROOT = Path(__file__).parents[2]
MODELS = ROOT / "models"  # the shipped default model (the version labelled stable)
BAR_TICKS = 4 * 480


@pytest.fixture(scope="module")
def default_server():
    """One embedded server on the shipped models for the songs here (as `bgm compose` starts its own)."""
    from model_server import local_server

    with local_server(MODELS) as address:
        yield address


def compose(server: str, out: Path, *options: str) -> int:
    return main(["compose", "--length", "short", "--server", server, "--out", str(out), *options])


def melody_notes(path: Path) -> tuple[int, list[tuple[int, int]]]:
    """The melody track's program and its notes as (tick, pitch)."""
    track = next(t for t in mido.MidiFile(path).tracks if t.name == "melody")
    now, program, notes = 0, None, []
    for message in track:
        now += message.time
        if message.type == "program_change":
            program = message.program
        elif message.type == "note_on" and message.velocity:
            notes.append((now, message.note))
    return program, notes


def analysed_key(path: Path) -> tuple[int, str]:
    """music21's key of the whole file: (tonic pitch class, mode)."""
    key = converter.parse(str(path)).analyze("key")
    return key.tonic.pitchClass, key.mode


@pytest.fixture(scope="module")
def primed(default_server, tmp_path_factory):
    """A calm song opening with a primer in D major (after a three-beat rest), for violin, as a loop,
    with stems and a picture; WAV, so that the stems can add up to the mix beyond a codec's error."""
    folder = tmp_path_factory.mktemp("primed")
    (folder / "ode.mid").write_bytes(midi_bytes([(beat + 3, pitch, beats) for beat, pitch, beats in TUNE]))
    out = folder / "out"
    code = compose(
        default_server,
        out, "--mood", "calm", "--seed", "7", "--primer", str(folder / "ode.mid"),
        "--lead", "violin", "--loop", "--stems", "--picture", "--format", "wav",
    )  # fmt: skip
    return code, out / "bgm-calm-7"


@pytest.fixture(scope="module")
def keyed(default_server, tmp_path_factory):
    """A happy (major, with drums) song asked for in D minor, as a loop, in the default Ogg Opus."""
    out = tmp_path_factory.mktemp("keyed")
    return compose(
        default_server, out, "--mood", "happy", "--seed", "11", "--key", "d minor", "--loop"
    ), out / "bgm-happy-11"


WALTZ = "X:1\nT:w\nM:3/4\nL:1/4\nK:D\nA d c | d e f | d3 |\n"


@pytest.fixture(scope="module")
def waltz(default_server, tmp_path_factory):
    """A happy song (with drums) opening with a waltz in D major, as a loop."""
    folder = tmp_path_factory.mktemp("waltz")
    (folder / "waltz.abc").write_text(WALTZ)
    out = folder / "out"
    primer = str(folder / "waltz.abc")
    code = compose(default_server, out, "--mood", "happy", "--seed", "4", "--primer", primer, "--loop")
    return code, out / "bgm-happy-4"


def test_a_waltz_primer_gives_a_song_in_3_4_that_opens_with_its_notes(waltz):
    code, stem = waltz
    assert code == 0
    midi = mido.MidiFile(stem.with_suffix(".mid"))
    assert [(m.numerator, m.denominator) for m in midi.tracks[0] if m.type == "time_signature"] == [(3, 4)]
    _, notes = melody_notes(stem.with_suffix(".mid"))
    expected = [(480 * beat, pitch) for beat, pitch in enumerate([69, 74, 73, 74, 76, 78, 74])]
    assert [n for n in notes if n[0] < 3 * 3 * 480] == expected
    # Every part's bass and chords change on the 3/4 bar lines: a bass note starts on each of them.
    bass = next(t for t in midi.tracks if t.name == "bass")
    now, starts = 0, set()
    for message in bass:
        now += message.time
        if message.type == "note_on" and message.velocity:
            starts.add(now)
    bars = sum(m.time for m in midi.tracks[0]) // (3 * 480)
    assert {3 * 480 * b for b in range(bars)} <= starts


def test_the_song_opens_with_the_primers_notes_at_their_places(primed):
    code, stem = primed
    assert code == 0
    _, notes = melody_notes(stem.with_suffix(".mid"))
    expected = [(round((beat + 3) * 480), pitch) for beat, pitch, _ in TUNE]  # after the rest
    assert [n for n in notes if n[0] < 3 * BAR_TICKS] == expected


def test_the_song_keeps_the_primers_key(primed):
    _, stem = primed
    assert analysed_key(stem.with_suffix(".mid")) == (Key.parse("D").tonic, "major")


def test_a_primer_in_another_duple_meter_keeps_it_and_its_notes_places(default_server, tmp_path):
    """An ABC primer in 2/2 (cut time): the song's MIDI is in 2/2 and opens with the primer's notes."""
    primer = tmp_path / "march.abc"
    primer.write_text("X:1\nT:m\nM:2/2\nL:1/4\nK:G\nG A B c | d2 B2 | c A G2 |\n")
    out = tmp_path / "out"
    assert compose(default_server, out, "--mood", "happy", "--seed", "4", "--primer", str(primer)) == 0
    midi = mido.MidiFile(tmp_path / "out" / "bgm-happy-4.mid")
    signatures = [(m.numerator, m.denominator) for m in midi.tracks[0] if m.type == "time_signature"]
    assert signatures == [(2, 2)]
    _, notes = melody_notes(tmp_path / "out" / "bgm-happy-4.mid")
    expected = [(480 * beat, pitch) for beat, pitch in enumerate([67, 69, 71, 72, 74])]
    expected += [(480 * 6, 71), (480 * 8, 72), (480 * 9, 69), (480 * 10, 67)]
    assert [n for n in notes if n[0] < 3 * BAR_TICKS] == expected


def test_the_key_asked_for_is_the_key_music21_hears_and_the_melody_keeps_its_scale(keyed):
    """A happy (major) mood asked for in D minor: music21's analysis of the whole MIDI file says D
    minor, and the melody keeps to that scale (F, not F#)."""
    code, stem = keyed
    assert code == 0
    assert analysed_key(stem.with_suffix(".mid")) == (Key.parse("d minor").tonic, "minor")
    _, notes = melody_notes(stem.with_suffix(".mid"))
    d_minor = Key.parse("d minor")
    assert sum(d_minor.in_scale(pitch) for _, pitch in notes) >= 0.95 * len(notes)
    assert not all(Key.parse("d major").in_scale(pitch) for _, pitch in notes)  # F, not F#


# Keys in both modes, spelled as people type them, each with a mood of the other mode or its own and
# a seed the arrangement's cadences were not tuned on (bench/key_agreement.py tuned them on seeds
# 300-395; on seeds 500-547, short and medium, music21 agreed on 92 of 96).
KEYS_ASKED = [
    ("sad", 907, "F# major"),
    ("epic", 902, "Bbm"), ("tense", 903, "E-flat major"),
    ("calm", 904, "c# minor"), ("playful", 905, "G minor"), ("happy", 906, "Ab"),
]  # fmt: skip


@pytest.mark.parametrize("mood, seed, key", KEYS_ASKED)
def test_music21_hears_the_key_asked_for_in_the_whole_song(mood, seed, key, default_server, tmp_path):
    code = compose(default_server, tmp_path, "--mood", mood, "--seed", str(seed), "--key", key)
    assert code == 0
    asked = Key.parse(key)
    assert analysed_key(tmp_path / f"bgm-{mood}-{seed}.mid") == (asked.tonic, asked.mode)


def test_the_lead_plays_the_melody_and_the_rest_keeps_the_moods_instruments(primed):
    _, stem = primed
    program, _ = melody_notes(stem.with_suffix(".mid"))
    assert program == 40  # Violin
    programs = {t.name: next(m.program for m in t if m.type == "program_change") for t in
                mido.MidiFile(stem.with_suffix(".mid")).tracks[1:]}  # fmt: skip
    assert (programs["harmony"], programs["bass"]) == (
        STYLES["calm"].harmony_program,
        STYLES["calm"].bass_program,
    )


@pytest.mark.parametrize(
    "song, mood, suffix, beats",
    [("primed", "calm", ".wav", 4), ("keyed", "happy", ".ogg", 4), ("waltz", "happy", ".ogg", 3)],
)
def test_the_loop_is_whole_bars_long_and_its_seam_does_not_click(song, mood, suffix, beats, request):
    code, stem = request.getfixturevalue(song)
    assert code == 0
    midi = mido.MidiFile(stem.with_suffix(".mid"))
    ends = {sum(m.time for m in track) for track in midi.tracks}
    assert len(ends) == 1 and ends.pop() % (beats * 480) == 0  # the MIDI ends on a bar line
    bars = sum(m.time for m in midi.tracks[0]) // (beats * 480)
    audio, rate = sf.read(stem.with_suffix(suffix), dtype="float32")
    assert len(audio) == round(bars * beats * 60 / STYLES[mood].tempo * rate)  # to the sample
    seam, nearby = seam_step(audio, rate)
    assert seam <= nearby, f"a step of {seam:.4f} at the seam, at most {nearby:.4f} within 10 ms of it"


def test_the_stems_are_as_long_as_the_mix_and_add_up_to_it(primed):
    _, stem = primed
    mix, rate = sf.read(stem.with_suffix(".wav"), dtype="float32")
    parts = {name: sf.read(stem.with_name(f"{stem.name}-{name}.wav"), dtype="float32") for name in
             ("melody", "harmony", "bass")}  # fmt: skip
    assert not stem.with_name(f"{stem.name}-drums.wav").exists()  # calm has no drums
    assert {(len(a), r) for a, r in parts.values()} == {(len(mix), rate)}
    residual = mix - sum(a for a, _ in parts.values())
    error_db = 10 * np.log10(np.mean(residual**2) / np.mean(mix**2))
    # Each stem takes the mix's gain frame by frame, the limiter's dips too (-34 dB before, -51 after):
    # only the limiter's clipping of a rare sample and 16-bit rounding are left.
    assert error_db < -45, f"the stems add up to the mix only within {error_db:.1f} dB"


def test_the_picture_is_a_png_piano_roll(primed):
    _, stem = primed
    from PIL import Image

    with Image.open(stem.with_suffix(".png")) as image:
        assert image.format == "PNG" and image.size == (1200, 450)
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert (pixels == (232, 89, 12)).all(axis=1).any()  # the melody's orange is drawn


def run_refused(tmp_path, capsys, *options: str) -> str:
    out = tmp_path / "out"
    code = main(["compose", "--mood", "calm", "--models", str(MODELS), "--out", str(out), *options])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() or not any(out.iterdir())
    return err


@pytest.mark.parametrize(
    "options, said",
    [
        (("--seed", "-1"), "The seed must be between 0 and 2147483647."),
        (("--variation", "-5"), "The variation must be between 0 and 1000000."),
        (("--tempo", "500"), "Tempo must be between 30 and 240"),
        (("--temperature", "0"), "Temperature must be between 0.05 and 3."),
        (("--top-p", "2"), "top-p must be in (0, 1]."),
        (("--key", "H minor"), "'H minor' is not a key"),
        (("--lead", "kazoo"), "'kazoo' is not a General MIDI instrument; did you mean"),
        (("--lead", "0"), "numbered 1 to 128"),
        (("--soundfont", "/nonexistent/font.sf2"), "The SoundFont /nonexistent/font.sf2 does not exist"),
        (("--primer", "/nonexistent/tune.mid"), "The primer /nonexistent/tune.mid cannot be read"),
    ],
)
def test_an_option_out_of_range_is_one_sentence_and_exit_status_2(options, said, tmp_path, capsys):
    assert said in run_refused(tmp_path, capsys, *options)


def test_a_jig_asked_for_is_in_6_8_bars_and_says_so(default_server, tmp_path, capsys):
    out = tmp_path / "out"
    assert compose(default_server, out, "--mood", "playful", "--seed", "8", "--meter", "6/8") == 0
    assert ", in 6/8 (made in" in capsys.readouterr().out
    midi = mido.MidiFile(out / "bgm-playful-8.mid")
    assert [(m.numerator, m.denominator) for m in midi.tracks[0] if m.type == "time_signature"] == [(6, 8)]
    assert sum(m.time for m in midi.tracks[0]) == 6 * 4 * 3 * 480  # six parts of four 6/8 bars
    drums = next(t for t in midi.tracks if t.name == "drums")
    now, kicks = 0, set()
    for message in drums:
        now += message.time
        if message.type == "note_on" and message.velocity and message.note == 36:
            kicks.add(now)
    assert {3 * 480 * bar for bar in range(6 * 4)} <= kicks  # a kick on every 6/8 downbeat


@pytest.mark.parametrize(
    "options, said",
    [
        (("--meter", "5/4"), "The meter must be one of 4/4, 3/4, 6/8."),
        (("--meter", "3/4", "--primer", "jig.abc"),
         "The primer `jig.abc` is in 6/8, so the song opening with it is too; leave out the meter or "
         "ask for 6/8."),
    ],
)  # fmt: skip
def test_a_meter_out_of_range_or_against_the_primers_is_refused_in_one_sentence(
    options, said, tmp_path, capsys
):
    (tmp_path / "jig.abc").write_text("X:1\nT:j\nM:6/8\nL:1/8\nK:D\nA | dcd efd | e3 d3 |\n")
    options = tuple(str(tmp_path / o) if o.endswith(".abc") else o for o in options)
    assert said in run_refused(tmp_path, capsys, *options)


def test_a_primer_in_a_meter_without_a_grid_is_refused_in_one_sentence(tmp_path, capsys):
    (tmp_path / "five.abc").write_text("X:1\nT:f\nM:5/4\nL:1/4\nK:D\nA d c d e | f d3 A |\n")
    said = run_refused(tmp_path, capsys, "--primer", str(tmp_path / "five.abc"))
    assert "is in 5/4, but songs are in 4/4 (also written 2/4, 2/2 or 4/2), 3/4 or 6/8 only." in said


@pytest.mark.parametrize("case", BAD)
def test_a_bad_primer_is_refused_before_anything_starts(case, tmp_path, capsys):
    name, data, reason = BAD[case]
    (tmp_path / name).write_bytes(data)
    assert reason in run_refused(tmp_path, capsys, "--primer", str(tmp_path / name))
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing beside it


def test_an_output_folder_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "out").write_text("")
    code = main(["compose", "--mood", "calm", "--models", str(MODELS), "--out", str(tmp_path / "out")])
    assert code == 2 and "is a file" in capsys.readouterr().err
