"""argparse for ``bgm``: a bad option is answered as the library's own refusals are, in one sentence on
one line with exit status 2, where argparse prints the usage and then its error on a second line.

``--help`` still prints the usage; the sentence names the option and what it takes.
"""

from __future__ import annotations

import argparse
import re
from typing import NoReturn

# argparse's messages (Python 3.11 to 3.13) as sentences; anything else keeps argparse's words.
_INVALID = re.compile(r"argument (?P<option>\S+): invalid (?P<type>\w+) value: (?P<value>.+)")
_CHOICE = re.compile(
    r"argument (?P<option>\S+): invalid choice: (?P<value>.+?) \(choose from (?P<choices>.+)\)"
)
_EXPECTED = re.compile(r"argument (?P<option>\S+): expected (?P<count>.+) arguments?")
_REQUIRED = re.compile(r"the following arguments are required: (?P<options>.+)")
_UNKNOWN = re.compile(r"unrecognized arguments: (?P<options>.+)")
_KINDS = {"int": "a whole number", "float": "a number"}


def sentence(message: str, prog: str) -> str:
    """argparse's error ``message`` as one sentence."""
    if match := _CHOICE.fullmatch(message):
        choices = ", ".join(c.strip().strip("'") for c in match["choices"].split(","))
        return f"{match['option']} must be one of {choices}, not {match['value']}."
    if match := _INVALID.fullmatch(message):
        kind = _KINDS.get(match["type"], f"a {match['type']}")
        return f"{match['option']} must be {kind}, not {match['value']}."
    if match := _EXPECTED.fullmatch(message):
        return f"{match['option']} needs {match['count'].replace('one', 'a value')}."
    if match := _REQUIRED.fullmatch(message):
        return f"{match['options']} must be given (see {prog} --help)."
    if match := _UNKNOWN.fullmatch(message):
        return f"{prog} does not take {match['options']} (see {prog} --help)."
    text = " ".join(message.split())
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: ``<prog>: <sentence>``, exit status 2.
    Subcommands' parsers are made of the same class (``add_subparsers`` uses the parser's own)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {sentence(message, self.prog)}\n")


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, with arguments no subcommand knows refused by that subcommand's
    parser (``bgm compose: bgm compose does not take --foo ...``), not by ``bgm``'s."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        commands = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})
        owner = commands.get(getattr(args, "command", None), parser)
        owner.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args
