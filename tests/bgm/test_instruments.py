"""General MIDI instruments by name or by number, and what an unknown one is answered with."""

import pytest

from bgm import instruments
from bgm.errors import BgmError


def test_a_name_or_its_general_midi_number_gives_the_program():
    assert instruments.program("violin") == instruments.program("41") == 40
    assert instruments.program("Acoustic Guitar (nylon)") == instruments.program("nylon guitar") == 24
    assert instruments.program("FLUTE") == 73 and instruments.program("french horn") == 60
    assert instruments.name(40) == "Violin"


def test_an_unknown_name_is_answered_with_close_matches():
    with pytest.raises(BgmError, match=r"'violn' is not a General MIDI instrument; did you mean Violin"):
        instruments.program("violn")


def test_a_number_outside_1_to_128_is_refused():
    for text in ("0", "129"):
        with pytest.raises(BgmError, match="numbered 1 to 128"):
            instruments.program(text)


def test_matches_serve_autocomplete_with_at_most_25_names():
    assert instruments.matches("guitar")[:2] == ["Acoustic Guitar (nylon)", "Acoustic Guitar (steel)"]
    assert len(instruments.matches("")) == 25
    assert instruments.matches("trumpt")[0] == "Trumpet"
