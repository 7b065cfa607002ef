"""What argparse itself refuses in ``bgm compose`` is one sentence on one line with exit status 2, as
the library's refusals are; ``--help`` still prints the usage."""

from __future__ import annotations

import pytest

from cli.main import main


def refused(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    captured = capsys.readouterr()
    assert exit_.value.code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "usage:" not in captured.err, captured.err
    return lines[0]


@pytest.mark.parametrize(
    "options, said",
    [
        (("--length", "huge"), "bgm compose: --length must be one of short, medium, long, not 'huge'."),
        (("--format", "flac"), "bgm compose: --format must be one of ogg, mp3, wav, not 'flac'."),
        (("--seed", "x"), "bgm compose: --seed must be a whole number, not 'x'."),
        (("--variation", "1.5"), "bgm compose: --variation must be a whole number, not '1.5'."),
        (("--tempo", "fast"), "bgm compose: --tempo must be a whole number, not 'fast'."),
        (("--temperature", "hot"), "bgm compose: --temperature must be a number, not 'hot'."),
        (("--top-p", "most"), "bgm compose: --top-p must be a number, not 'most'."),
        (("--seed",), "bgm compose: --seed needs a value."),
        (("--lodp",), "bgm compose: bgm compose does not take --lodp (see bgm compose --help)."),
    ],
)
def test_an_option_argparse_refuses_is_one_sentence_and_exit_status_2(options, said, capsys):
    assert refused(capsys, "compose", "--mood", "calm", *options) == said


def test_a_missing_mood_is_one_sentence(capsys):
    assert refused(capsys, "compose") == "bgm compose: --mood must be given (see bgm compose --help)."


def test_an_unknown_command_is_one_sentence(capsys):
    said = refused(capsys, "frob")
    assert said.startswith("bgm: command must be one of train, serve, compose")
    assert said.endswith("not 'frob'.")


def test_help_still_prints_the_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["compose", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and out.startswith("usage: bgm compose") and "--primer FILE" in out
