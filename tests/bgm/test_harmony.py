from bgm.harmony import Key, estimate_key, with_mode
from bgm.tokens import Onset


def _line(pitches):
    return [Onset(i * 4, (p,), 4) for i, p in enumerate(pitches)]


def test_a_c_major_tune_is_in_c_major():
    assert estimate_key(_line([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60])) == Key(0, "major")


def test_an_a_minor_tune_is_in_a_minor():
    assert estimate_key(_line([57, 59, 60, 62, 64, 65, 68, 69, 64, 60, 57, 57])) == Key(9, "minor")


def test_the_harmonic_minor_seventh_is_in_scale():
    assert Key(9, "minor").in_scale(68)  # G#
    assert not Key(0, "major").in_scale(61)


def test_a_major_tune_moves_to_its_parallel_minor():
    tune = _line([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60])
    minor = with_mode(tune, "minor")
    assert [o.pitches[0] for o in minor][:6] == [60, 62, 63, 65, 67, 68]
    assert estimate_key(minor) == Key(0, "minor")


def test_a_tune_already_in_the_mode_is_unchanged():
    tune = _line([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60])
    assert with_mode(tune, "major") == tune


def test_keys_are_read_as_people_write_them():
    spelled = {
        "D minor": Key(2, "minor"),
        "dm": Key(2, "minor"),
        "F# major": Key(6, "major"),
        "f sharp minor": Key(6, "minor"),
        "Gb major": Key(6, "major"),
        "Bb": Key(10, "major"),
        "B♭ min": Key(10, "minor"),
        "E-flat minor": Key(3, "minor"),
        "D#m": Key(3, "minor"),
        "C♯ maj": Key(1, "major"),
        "AM": Key(9, "major"),
    }
    assert {text: Key.parse(text) for text in spelled} == spelled


def test_every_one_of_the_24_keys_reads_back_from_its_name():
    keys = [Key(tonic, mode) for tonic in range(12) for mode in ("major", "minor")]
    assert [Key.parse(k.name) for k in keys] == keys
    assert {"Db major", "G# minor", "Eb minor", "F# major"} <= {k.name for k in keys}


def test_a_text_that_is_no_key_is_refused_in_one_sentence():
    import pytest

    from bgm.errors import BgmError

    for text in ("H minor", "D dorian", "", "C##"):
        with pytest.raises(BgmError, match=r"is not a key; write one like \"D minor\""):
            Key.parse(text)
