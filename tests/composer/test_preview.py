"""The song's opening, drafted before verse 2 is written and rendered while it is."""

import asyncio
from types import SimpleNamespace

import numpy as np
import soundfile as sf

from bgm import audio, loudness, segments
from bgm.arrangement import arrange
from bgm.form import song_onsets
from bgm.harmony import Key
from bgm.meter import SIX_EIGHT
from bgm.primer import Primer
from composer.client import ModelClient
from composer.composer import Composer, ComposeRequest
from composer.preview import (
    draft_arrangement,
    opening_arrangement,
    opening_of,
    opening_renderer,
    render_opening,
    rest_renderer,
)
from composer.render import Extras
from composer.song import make_song
from tests.bgm.test_audio import _band_levels

REQUEST = ComposeRequest("calm", "short", seed=5)


def compose_with_draft(server, request=REQUEST):
    drafts = []

    async def run():
        client = ModelClient(server.address)
        try:
            return await Composer(client).compose(request, draft=drafts.append)
        finally:
            await client.close()

    return asyncio.run(run()), drafts


def arranged(song):
    tokens, sections = list(song.tokens), list(song.sections)
    key = Key.from_name(song.key)
    return arrange(song_onsets(tokens, sections), len(tokens), "calm", sections, None, key)


def test_the_draft_comes_once_with_every_part_but_verse_2(lstm_server):
    song, drafts = compose_with_draft(lstm_server)
    (draft,) = drafts
    assert [s.name for s in draft.sections] == ["verse1", "chorus", "chorus", "bridge", "chorus"]
    opening_end = draft.sections[1].start + draft.sections[1].steps
    assert draft.tokens[:opening_end] == song.tokens[:opening_end]  # the opening, note for note
    assert draft.key == song.key and draft.request == song.request


def test_a_draft_does_not_change_the_song(lstm_server):
    with_draft, _ = compose_with_draft(lstm_server)

    async def plain():
        client = ModelClient(lstm_server.address)
        try:
            return await Composer(client).compose(REQUEST)
        finally:
            await client.close()

    assert asyncio.run(plain()).tokens == with_draft.tokens


def test_the_opening_is_the_songs_first_two_sections_cut_where_the_chorus_ends(lstm_server):
    song, _ = compose_with_draft(lstm_server)
    tokens, sections = list(song.tokens), list(song.sections)
    whole = arrange(
        song_onsets(tokens, sections), len(tokens), "calm", sections, None, Key.from_name(song.key)
    )
    cut, kept = opening_of(whole, sections)
    end = sections[1].start + sections[1].steps
    assert cut.steps == end and [s.name for s in kept] == ["verse1", "chorus"]
    for short, full in zip(cut.tracks, whole.tracks, strict=True):
        assert all(n.end <= end for n in short.notes)
        assert [(n.start, n.pitch) for n in short.notes] == [
            (n.start, n.pitch) for n in full.notes if n.start < end
        ]
    # arranged from the whole song, the opening arrangement is this cut
    again, _ = opening_arrangement(tokens, sections, "calm", None, song.key, Extras())
    assert again == cut


def test_the_rendered_opening_sounds_like_the_whole_songs_opening(lstm_server, tmp_path):
    """Both levelled to the same target: the opening's level over time follows the song's."""
    song, _ = compose_with_draft(lstm_server)
    tokens, sections = list(song.tokens), list(song.sections)
    files = render_opening(
        tokens, sections, "calm", tmp_path, "s", tempo=None, soundfont=None, max_bytes=2**30, key=song.key
    )
    opening, rate = sf.read(files.audio, dtype="float32")
    whole = arrange(
        song_onsets(tokens, sections), len(tokens), "calm", sections, None, Key.from_name(song.key)
    )
    full = audio.song_audio(whole, sections)
    assert rate == audio.RATE and abs(len(opening) / rate - files.seconds) < 1.0
    assert abs(loudness.loudness_dbfs(opening, rate) - loudness.TARGET_DBFS) < 1.0
    block = rate // 2
    n = int(files.seconds * rate) // block - 1  # the fades at the ends left out
    level = lambda a: 10 * np.log10(np.mean(a[: n * block].reshape(n, -1) ** 2, axis=1) + 1e-10)  # noqa: E731
    assert np.corrcoef(level(opening), level(full))[0, 1] > 0.9


async def test_make_song_hands_over_the_opening_before_it_returns(lstm_server, tmp_path):
    seen = []

    async def opening(files):
        seen.append(files)

    client = ModelClient(lstm_server.address)
    try:
        song = await make_song(Composer(client), REQUEST, tmp_path, opening=opening)
    finally:
        await client.close()
    (files,) = seen
    assert files.audio.name == "bgm-calm-5-opening.ogg" and files.audio.is_file()
    assert song.files.audio.name == "bgm-calm-5.ogg" and files.seconds < song.files.seconds


def test_a_song_rendered_after_its_draft_sounds_as_the_song_rendered_alone(lstm_server, tmp_path):
    """The pipelined render: the draft's spans (all but verse 2) synthesised first, into a store;
    the whole song then synthesises only what is new and sounds as when rendered alone."""
    song, (draft,) = compose_with_draft(lstm_server)
    spans = tmp_path / "spans"
    rendered = rest_renderer(draft, None, audio.SpanStore(spans), skip_opening=False)()
    stored = len(list(spans.glob("*.npy")))
    assert rendered > 0 and stored >= rendered
    whole, sections = arranged(song), list(song.sections)
    alone = audio.song_audio(whole, sections)
    piped = audio.song_audio(whole, sections, store=audio.SpanStore(spans))
    new = len(list(spans.glob("*.npy"))) - stored
    assert new < len(segments.plan(whole, sections).renders)  # the draft's spans were found
    assert abs(len(piped) - len(alone)) < audio.RATE // 10
    n = min(len(piped), len(alone))
    level = loudness.loudness_dbfs
    assert abs(level(piped[:n], audio.RATE) - level(alone[:n], audio.RATE)) < 0.1
    heard, reference = _band_levels(piped[:n]), _band_levels(alone[:n])
    loud = reference > reference.max() - 60
    assert np.corrcoef(heard[loud], reference[loud])[0, 1] > 0.99
    assert np.abs(heard - reference)[loud].mean() < 1.0  # dB


async def test_make_song_without_a_pipeline_makes_the_same_midi(lstm_server, tmp_path):
    client = ModelClient(lstm_server.address)
    try:
        piped = await make_song(Composer(client), REQUEST, tmp_path / "piped")
        plain = await make_song(Composer(client), REQUEST, tmp_path / "plain", pipeline=False)
    finally:
        await client.close()
    assert piped.files.midi.read_bytes() == plain.files.midi.read_bytes()
    assert piped.files.audio is not None and not list(tmp_path.glob("**/*.npy"))


def test_a_draft_opened_by_a_primer_is_arranged_in_the_primers_meter(tmp_path):
    bar = ["60:6"] + ["_"] * 5 + ["64:6"] + ["_"] * 5  # two dotted quarters
    request = ComposeRequest("playful", "short", seed=1, primer=Primer(tuple(bar), "C major", "6/8"))
    draft = SimpleNamespace(request=request, tokens=tuple(bar * 4), sections=(), key="C major")
    for job in (opening_renderer(draft, tmp_path, "song", None, 10**7), rest_renderer(draft, None, None)):
        extras = job.keywords["extras"]
        assert extras.grid == SIX_EIGHT
        assert draft_arrangement(bar * 4, [], "playful", None, "C major", extras).meter == SIX_EIGHT
