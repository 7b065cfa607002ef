"""The composer against the embedded server over real gRPC, with a tiny untrained model."""

import asyncio
import re

import numpy as np
import pytest

from bgm.form import BAR_STEPS, BARS_PER_PART, LAYOUT
from bgm.harmony import Key
from bgm.styles import STYLES
from bgm.tokens import decode
from composer.client import ModelClient
from composer.composer import RESTART_EVERY, Composer, ComposeRequest
from composer.errors import BgmError, ServerUnavailable, UnknownMood, UnsupportedMeter
from composer.sampling import sample
from composer.stages import Stage


class CountingClient(ModelClient):
    """A real client that also records the signature and rows of each Predict it sends."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows: list[int] = []
        self.calls: list[tuple[str, tuple[int, ...]]] = []

    async def predict(self, version, signature, inputs, outputs):
        self.rows.append(len(inputs["mood"]))
        self.calls.append((signature, next(iter(inputs.values())).shape))
        self.inputs = getattr(self, "inputs", set()) | {(signature, tuple(sorted(inputs)))}
        return await super().predict(version, signature, inputs, outputs)


def _compose(server, request, client_class=ModelClient, **composer):
    async def run():
        client = client_class(server.address)
        try:
            return await Composer(client, **composer).compose(request), client
        finally:
            await client.close()

    return asyncio.run(run())


def test_the_same_seed_gives_the_same_song(server):
    a, _ = _compose(server, ComposeRequest("calm", "short", seed=42))
    b, _ = _compose(server, ComposeRequest("calm", "short", seed=42))
    assert a.tokens == b.tokens and a.model_version == b.model_version == 1


def test_another_seed_gives_another_song(server):
    a, _ = _compose(server, ComposeRequest("calm", "short", seed=1))
    b, _ = _compose(server, ComposeRequest("calm", "short", seed=2))
    assert a.tokens != b.tokens


def test_a_request_without_seed_gets_one_drawn_and_reported(server):
    song, _ = _compose(server, ComposeRequest("happy", "short"))
    assert isinstance(song.request.seed, int)


def test_a_variation_keeps_the_form_but_samples_anew(server):
    a, _ = _compose(server, ComposeRequest("sad", "short", seed=9))
    b, _ = _compose(server, ComposeRequest("sad", "short", seed=9, variation=1))
    assert [s.steps for s in a.sections] == [s.steps for s in b.sections]
    assert a.tokens != b.tokens


@pytest.mark.parametrize("length", ["short", "medium", "long"])
def test_the_song_has_the_seed_form_and_scaled_lengths(server, length):
    song, _ = _compose(server, ComposeRequest("epic", length, seed=3))
    assert tuple(s.name for s in song.sections) == LAYOUT
    part = BARS_PER_PART[length] * BAR_STEPS
    assert all(s.steps == part for s in song.sections)
    assert len(song.tokens) == part * len(LAYOUT)
    starts = [s.start for s in song.sections]
    assert starts == [i * part for i in range(len(LAYOUT))]
    chorus = [song.tokens[s.start : s.start + s.steps] for s in song.sections if s.name == "chorus"]
    assert chorus[0] == chorus[1] == chorus[2]


def test_independent_parts_share_one_predict_per_step(server):
    _, client = _compose(server, ComposeRequest("tense", "short", seed=5), CountingClient)
    steps = BARS_PER_PART["short"] * BAR_STEPS
    assert client.rows == [3] * steps + [1] * steps


def test_a_model_that_carries_state_is_sent_one_token_per_row_after_the_primers(lstm_server):
    song, client = _compose(lstm_server, ComposeRequest("tense", "short", seed=5), CountingClient)
    steps = BARS_PER_PART["short"] * BAR_STEPS
    assert client.rows == [3] * steps + [1] * steps
    # A window pass for the primers, then single tokens carrying the state (verse 2 goes on from
    # verse 1's), the state read afresh from the last window every RESTART_EVERY steps.
    assert client.calls[0] == ("serving_default", (3, 32))
    assert set(client.calls) == {
        ("serving_default", (3, 32)),
        ("serving_default", (1, 32)),
        ("step", (3,)),
        ("step", (1,)),
    }
    kinds = "".join("w" if signature == "serving_default" else "s" for signature, _ in client.calls)
    assert "s" * (RESTART_EVERY + 1) not in kinds and kinds.count("s") >= 0.8 * len(kinds)
    assert len(song.tokens) == sum(s.steps for s in song.sections)


def test_a_model_that_carries_state_reproduces_a_song_from_its_seed(lstm_server):
    a, _ = _compose(lstm_server, ComposeRequest("calm", "short", seed=7))
    b, _ = _compose(lstm_server, ComposeRequest("calm", "short", seed=7))
    c, _ = _compose(lstm_server, ComposeRequest("calm", "short", seed=8))
    assert a.tokens == b.tokens != c.tokens


def test_the_model_primers_are_not_changed_by_composing(server):
    async def run():
        client = ModelClient(server.address)
        info = await client.metadata()
        before = info.primers.copy()
        await Composer(client).compose(ComposeRequest("calm", "short", seed=11))
        await client.close()
        return before, info.primers

    before, after = asyncio.run(run())
    assert np.array_equal(before, after)


def test_an_unknown_mood_names_the_valid_ones(server):
    with pytest.raises(UnknownMood, match="calm, happy, sad, epic, tense, playful"):
        _compose(server, ComposeRequest("grumpy", "short", seed=1))


def test_bad_options_are_refused_before_composing():
    with pytest.raises(BgmError, match="Tempo"):
        ComposeRequest("calm", tempo=1000)
    with pytest.raises(BgmError, match="Length"):
        ComposeRequest("calm", length="endless")


def test_no_server_is_a_clear_error_within_the_retry_budget():
    async def run():
        client = ModelClient("127.0.0.1:9", deadline=0.5, retry_for=1.0)
        try:
            await Composer(client).compose(ComposeRequest("calm", "short", seed=1))
        finally:
            await client.close()

    with pytest.raises(ServerUnavailable, match="127.0.0.1:9 is not answering"):
        asyncio.run(run())


def test_progress_reports_the_stages_in_order(server):
    stages = []

    async def run():
        client = ModelClient(server.address)
        try:
            await Composer(client).compose(ComposeRequest("calm", "short", seed=1), stages.append)
        finally:
            await client.close()

    asyncio.run(run())
    assert stages == [Stage.FIRST_PARTS, Stage.VERSE_2]


def test_the_model_info_comes_typed_from_the_metadata_signature(server):
    async def run():
        client = ModelClient(server.address)
        try:
            return await client.metadata()
        finally:
            await client.close()

    info = asyncio.run(run())
    assert info.version == 1 and info.window == 32 and info.state_size == 0
    assert info.primers.shape == (len(info.moods), 4, 32) and info.vocab[0] == "_"
    assert info.info == {"note": "untrained test model"} and info.tokenizer_version is not None


def test_a_melody_model_is_sent_the_position_and_lookback_of_each_step(lstm_server):
    _, client = _compose(lstm_server, ComposeRequest("calm", "short", seed=5), CountingClient)
    assert client.inputs == {
        ("serving_default", ("lookback", "mood", "position", "tokens")),
        ("step", ("lookback", "mood", "position", "state", "token")),
    }


def test_a_melody_song_is_one_line_in_a_key_of_its_mood(lstm_server):
    for seed in range(3):
        song, _ = _compose(lstm_server, ComposeRequest("sad", "short", seed=seed))
        key = Key.from_name(song.key)
        assert key.mode == "minor" and key.tonic in STYLES["sad"].keys
        onsets = decode(list(song.tokens))
        assert all(len(o.pitches) == 1 for o in onsets)
        for s in song.sections:  # never two notes at once (the last may ring on: render cuts it there)
            part = decode(list(song.tokens[s.start : s.start + s.steps]))
            assert all(a.end <= b.step for a, b in zip(part, part[1:], strict=False))
        # Out-of-key notes are made unlikely, not impossible: even an untrained model stays in key.
        assert sum(key.in_scale(o.pitches[0]) for o in onsets) >= 0.9 * len(onsets)


def test_a_melody_part_repeats_its_first_bar_and_echoes_its_rhythm_where_the_phrase_plan_says(lstm_server):
    song, _ = _compose(lstm_server, ComposeRequest("happy", "medium", seed=4))
    for section in song.sections:
        part = song.tokens[section.start : section.start + section.steps]
        bars = [decode(list(part[b * 16 : (b + 1) * 16])) for b in range(8)]
        # a a' b a'': bar 3 opens like bar 1, bar 7 keeps bar 1's rhythm with pitches of its own ...
        for again, what in ((2, lambda o: (o.step, o.pitches)), (6, lambda o: (o.step, o.steps))):
            first, later = {what(o) for o in bars[0]}, {what(o) for o in bars[again]}
            # ... but for a note struck where the opening rest would have made too long a silence
            assert first <= later and len(later - first) <= 1, (section.name, again)
        assert [o.pitches for o in bars[6]] != [o.pitches for o in bars[0]], section.name


def lazy(logits, temperature, top_p, rng):
    """A decoder that rests whenever the rules let it: each silence runs to the rules' bound."""
    hold = 0  # the vocabulary's id of HOLD (training/vocab.py)
    return np.where(np.isfinite(logits[:, hold]), hold, np.argmax(logits, axis=1))


def test_a_melody_never_rests_longer_than_a_beat_within_a_part(lstm_server):
    cases = (("calm", 2, sample), ("sad", 3, sample), ("happy", 4, lazy), ("sad", 7, lazy))
    for mood, seed, decoder in cases:
        song, _ = _compose(lstm_server, ComposeRequest(mood, "medium", seed=seed), decoder=decoder)
        for s in song.sections:
            onsets = decode(list(song.tokens[s.start : s.start + s.steps]))
            gaps = [b.step - a.end for a, b in zip(onsets, onsets[1:], strict=False)]
            assert max(gaps) <= 4, (mood, seed, s.name)  # Rules.max_rest: the bars a plan copies too
        onsets = decode(list(song.tokens))
        gaps = [b.step - a.end for a, b in zip(onsets, onsets[1:], strict=False)]
        assert max(gaps) <= 8, (mood, seed)  # two beats at most where one section joins the next


def test_a_model_without_melody_inputs_still_composes(legacy_server):
    song, client = _compose(legacy_server, ComposeRequest("tense", "short", seed=5), CountingClient)
    assert client.inputs == {("serving_default", ("mood", "tokens")), ("step", ("mood", "state", "token"))}
    assert song.key == "" and len(song.tokens) == BARS_PER_PART["short"] * BAR_STEPS * len(LAYOUT)


def test_seed_variation_key_and_lead_out_of_range_are_refused_in_one_sentence():
    for options, said in (
        ({"seed": -1}, "The seed must be between 0 and 2147483647."),
        ({"variation": -5}, "The variation must be between 0 and 1000000."),
        ({"key": "H minor"}, "'H minor' is not a key"),
        ({"lead": 128}, "The lead must be a General MIDI program, 1 to 128."),
    ):
        with pytest.raises(BgmError, match=re.escape(said)):
            ComposeRequest("calm", **options)


def test_a_request_with_every_option_round_trips_through_a_dict():
    from bgm.primer import Primer

    primer = Primer(("62:4", "_", "_", "_") * 4, "D major", "4/4", "ode.mid")
    request = ComposeRequest("calm", "short", 3, key="f# m", lead=40, loop=True, primer=primer)
    assert request.key == "F# minor"  # one spelling from here on
    assert ComposeRequest.from_dict(request.to_dict()) == request


def test_a_key_asked_for_is_the_songs_and_its_rules_mode(lstm_server):
    song, _ = _compose(lstm_server, ComposeRequest("happy", "short", seed=2, key="Bb minor"))
    assert song.key == "Bb minor"
    onsets = decode(list(song.tokens))
    assert sum(Key(10, "minor").in_scale(o.pitches[0]) for o in onsets) >= 0.9 * len(onsets)


def test_a_primer_opens_verse_1_note_for_note_and_the_song_keeps_its_key(lstm_server):
    from bgm.primer import Primer

    tokens = ("64:4", "_", "_", "_", "66:2", "_", "67:2", "_", "69:8") + ("_",) * 7
    primer = Primer(tokens * 2, "E minor", "4/4", "tune.mid")
    song, _ = _compose(lstm_server, ComposeRequest("calm", "short", seed=1, primer=primer))
    assert song.key == "E minor" and song.tokens[: len(primer.tokens)] == primer.tokens
    assert song.primer_bars == 2
    verse2 = next(s for s in song.sections if s.name == "verse2")
    assert song.tokens[verse2.start : verse2.start + 32] != primer.tokens  # verse 2 goes on, not again


class PositionsClient(ModelClient):
    """A real client that also records every position input it sends."""

    positions: list[int]

    async def predict(self, version, signature, inputs, outputs):
        self.positions = getattr(self, "positions", []) + np.asarray(inputs["position"]).ravel().tolist()
        return await super().predict(version, signature, inputs, outputs)


@pytest.mark.parametrize("meter, offset", [("3/4", 64), ("6/8", 112)])
def test_a_primer_in_3_4_or_6_8_gives_a_song_in_12_step_bars_with_that_meters_positions(
    meter_server, meter, offset
):
    from bgm.primer import Primer

    tokens = ("64:4", "_", "_", "_", "66:2", "_", "67:2", "_", "69:4", "_", "_", "_")
    primer = Primer(tokens * 2, "E minor", meter, "waltz.mid")
    song, client = _compose(
        meter_server, ComposeRequest("calm", "short", seed=1, primer=primer), PositionsClient
    )
    assert song.tokens[:24] == primer.tokens and song.primer_bars == 2
    assert [s.steps for s in song.sections] == [4 * 12] * len(LAYOUT) and song.bars == 4 * len(LAYOUT)
    assert set(client.positions) == set(range(offset, offset + 48))  # every step of a 4-bar phrase
    for section in song.sections[
        1:
    ]:  # bar 2 of a short part opens as bar 0 (the phrase plan, 12 steps a bar)
        part = song.tokens[section.start : section.start + section.steps]
        first, again = (
            {(o.step, o.pitches) for o in decode(list(part[b * 12 : (b + 1) * 12]))} for b in (0, 2)
        )
        # ... but for a note struck where the opening rest would have made too long a silence
        assert first <= again and len(again - first) <= 1, section.name


def test_a_song_asked_for_in_6_8_starts_from_the_models_6_8_windows_and_counts_its_bars(meter_server):
    song, client = _compose(
        meter_server, ComposeRequest("happy", "short", seed=2, meter="6/8"), PositionsClient
    )
    assert set(client.positions) == set(range(112, 160)) and song.bars == 4 * len(LAYOUT)
    assert song.request.signature == "6/8" and song.request.grid.bar == 12


def test_a_primer_in_a_meter_the_model_has_not_learnt_is_refused_in_one_sentence(lstm_server):
    from bgm.primer import Primer

    primer = Primer(("64:4",) + ("_",) * 11, "E minor", "3/4", "waltz.mid")
    with pytest.raises(UnsupportedMeter) as refused:
        _compose(lstm_server, ComposeRequest("calm", "short", seed=1, primer=primer))
    assert str(refused.value) == (
        "Model version 1 writes in 4/4 only, not 3/4; teach it with "
        "`bgm train --from latest --add-meters 3/4,6/8`."
    )


def test_in_3_4_and_6_8_no_note_outlasts_a_bar_and_a_silence_ends_after_one_of_their_beats():
    from bgm.constraints import Rules
    from bgm.meter import FOUR_FOUR, SIX_EIGHT, THREE_FOUR
    from composer.composer import _in_meter

    held = Rules(longest=16)  # a lead that sustains holds a whole 4/4 bar
    assert (_in_meter(held, FOUR_FOUR).longest, _in_meter(held, FOUR_FOUR).max_rest) == (16, 4)
    assert (_in_meter(held, THREE_FOUR).longest, _in_meter(held, THREE_FOUR).max_rest) == (12, 4)
    assert (_in_meter(held, SIX_EIGHT).longest, _in_meter(held, SIX_EIGHT).max_rest) == (12, 6)
