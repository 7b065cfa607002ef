"""Hostile uploads for ``/bgm train start``: a seeded, deterministic generator of broken and malicious files.

``cases()`` gives every case; ``python -m tests.reliability.hostile`` prints how many of each kind.
Each case is one ``/bgm train start`` with its files as ``file1``, ``file2``...; ``expect`` says what
the bot must do: "refused" (an ephemeral ❌ with a reason, nothing saved), "accepted" (training starts),
or None when either is a fair answer (random text the validator cannot judge; music21 decides).
"""

from __future__ import annotations

import io
import random
import stat
import struct
import zipfile
from collections import Counter
from dataclasses import dataclass

MB = 1024 * 1024
UPLOAD_MAX_BYTES = 8 * MB  # the bot's defaults, which the fuzz run keeps
UPLOAD_MAX_EXPANDED = 64 * MB
UPLOAD_MAX_MEMBERS = 500
UPLOAD_MAX_FILES = 2  # lowered from 3 in the fuzz run, so that three attachments are one too many


@dataclass(frozen=True)
class Case:
    kind: str
    files: tuple[tuple[str, bytes], ...]
    expect: str | None  # "refused", "accepted" or None
    why: str = ""  # a word the refusal must contain (lowercase), when it is refused

    @property
    def label(self) -> str:
        names = ", ".join(repr(name[:40]) for name, _ in self.files)
        return f"{self.kind}: {names} ({sum(len(d) for _, d in self.files):,} bytes)"


# ---------------------------------------------------------------------------------------- MIDI bytes


def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def track(events: list[tuple[int, bytes]], end: bool = True) -> bytes:
    body = b"".join(vlq(delta) + event for delta, event in events) + (b"\x00\xff\x2f\x00" if end else b"")
    return b"MTrk" + struct.pack(">I", len(body)) + body


def midi(tracks: list[bytes], division: int = 480, fmt: int = 1, declared: int | None = None) -> bytes:
    count = len(tracks) if declared is None else declared
    return b"MThd" + struct.pack(">IHHH", 6, fmt, count, division) + b"".join(tracks)


def notes(count: int = 16, length: int = 240, pitch: int = 60) -> list[tuple[int, bytes]]:
    events = []
    for i in range(count):
        key = pitch + (i * 5) % 12
        events += [(0, bytes([0x90, key, 80])), (length, bytes([0x80, key, 0]))]
    return events


def tune(meta: list[tuple[int, bytes]] = (), count: int = 16, division: int = 480) -> bytes:
    return midi([track([*meta, *notes(count, division // 2)])], division=division)


def tempo(microseconds: int) -> tuple[int, bytes]:
    return 0, b"\xff\x51\x03" + microseconds.to_bytes(3, "big")


def time_signature(numerator: int, denominator_power: int) -> tuple[int, bytes]:
    return 0, bytes([0xFF, 0x58, 0x04, numerator, denominator_power, 24, 8])


# ----------------------------------------------------------------------------------------- zip bytes


def zipped(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zero_bomb(name: str, size: int) -> bytes:
    """One member of ``size`` zero bytes, written in chunks (never all in memory): ratio ~1000:1."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open(name, "w", force_zip64=True) as member:
            chunk = bytes(MB)
            for _ in range(size // MB):
                member.write(chunk)
    return buffer.getvalue()


def lying_sizes(data: bytes, claimed: int) -> bytes:
    """``data`` (a one-member zip) with the member's uncompressed size rewritten to ``claimed``."""
    out = bytearray(data)
    local = out.index(b"PK\x03\x04")
    out[local + 22 : local + 26] = struct.pack("<I", claimed)
    central = out.index(b"PK\x01\x02")
    out[central + 24 : central + 28] = struct.pack("<I", claimed)
    return bytes(out)


def symlink_zip(name: str, target: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, target)
    return buffer.getvalue()


def encrypted_zip(name: str, data: bytes) -> bytes:
    """A one-member zip whose headers say "encrypted" (the bytes are not, which must not matter)."""
    out = bytearray(zipped({name: data}, zipfile.ZIP_STORED))
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = out.index(signature) + flags_at
        out[at] |= 0x1
    return bytes(out)


def mxl(xml: bytes) -> bytes:
    container = (
        b'<?xml version="1.0"?><container><rootfiles><rootfile full-path="s.xml"/></rootfiles></container>'
    )
    return zipped({"META-INF/container.xml": container, "s.xml": xml})


# ---------------------------------------------------------------------------------- text music bytes


def musicxml(notes_xml: str, divisions: str = "1", doctype: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?>{doctype}<score-partwise version="3.1"><part-list>'
        '<score-part id="P1"><part-name>x</part-name></score-part></part-list><part id="P1">'
        f'<measure number="1"><attributes><divisions>{divisions}</divisions></attributes>{notes_xml}'
        "</measure></part></score-partwise>"
    ).encode()


def xml_note(duration: int | str = 1, step: str = "C") -> str:
    return f"<note><pitch><step>{step}</step><octave>4</octave></pitch><duration>{duration}</duration></note>"


LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol0 "lollollollollollollollollollol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    + "]>"
)


def abc(body: str, header: str = "M:4/4\nL:1/8\nK:C\n") -> bytes:
    return f"X:1\nT:hostile\n{header}{body}\n".encode()


# ------------------------------------------------------------------------------------------ the cases


def cases(seed: int = 7) -> list[Case]:
    rng = random.Random(seed)
    out: list[Case] = []

    def add(kind: str, expect: str | None, *files: tuple[str, bytes], why: str = "") -> None:
        out.append(Case(kind, tuple(files), expect, why))

    good = tune(count=24)

    # Truncated MIDI: every cut of a valid file is missing a header field, a track or an event.
    for cut in sorted(rng.sample(range(1, len(good)), 50)):
        add("truncated midi", "refused", (f"cut{cut}.mid", good[:cut]))

    # Random bytes under music names (some posing as MIDI: an MThd header and noise after it).
    for suffix in (".mid", ".midi", ".xml", ".musicxml", ".abc", ".krn", ".mxl", ".zip"):
        for i in range(5):
            data = rng.randbytes(rng.choice([1, 17, 300, 4096, 70_000]))
            sure = suffix in (".mid", ".midi", ".mxl", ".zip") or b"\x00" in data
            add("random bytes", "refused" if sure else None, (f"noise{i}{suffix}", data))
    for i in range(8):
        data = b"MThd" + rng.randbytes(rng.choice([10, 100, 1000, 20_000]))
        add("random midi body", "refused", (f"body{i}.mid", data))

    # Wrong extensions, whatever the bytes inside (a valid MIDI file, a pickle, a script).
    pickle_bomb = b"cos\nsystem\n(S'touch /tmp/pwned'\ntR."
    for name, data in [
        ("setup.exe", b"MZ" + bytes(100)),
        ("tune.py", b"import os; os.system('id')\n"),
        ("notes.pkl", pickle_bomb),
        ("notes.pickle", pickle_bomb),
        ("model.h5", b"\x89HDF\r\n"),
        ("run.sh", b"#!/bin/sh\nrm -rf /\n"),
        ("README", good),
        ("tune.mid.exe", good),
        ("tune.wav", b"RIFF" + bytes(40)),
        ("songs.tar.gz", b"\x1f\x8b" + bytes(30)),
        ("songs.rar", b"Rar!\x1a\x07\x00"),
        ("songs.7z", b"7z\xbc\xaf\x27\x1c"),
        ("tune.mid ", good),
        (".mid", good[:0] + b"x"),
        ("tune.MID.txt", good),
        ("tune.npy", b"\x93NUMPY"),
    ]:
        add("wrong extension", "refused", (name, data), why="not a music file")

    # Zip bombs: high-ratio members, too many members, sizes that lie.
    add("zip bomb", "refused", ("bomb.zip", zero_bomb("a.mid", 80 * MB)), why="expand")
    add("zip bomb", "refused", ("bomb.mxl", zero_bomb("s.xml", 80 * MB)), why="expand")
    small = zero_bomb("a.mid", 16 * MB)
    add("zip bomb", "refused", ("wide.zip", zipped({f"{i}.mid": bytes(MB) for i in range(70)})), why="expand")
    add("zip bomb", "refused", ("lying.zip", lying_sizes(small, 100)), why="corrupt")
    add("zip bomb", "refused", ("lying-big.zip", lying_sizes(small, 2**32 - 1)), why="expand")
    add(
        "zip bomb",
        "refused",
        ("many.zip", zipped({f"{i}.mid": b"" for i in range(UPLOAD_MAX_MEMBERS + 1)}, zipfile.ZIP_STORED)),
        why="over the limit",
    )
    add("zip bomb", "refused", ("quine.zip", zipped({"a.zip": small})), why="another archive")
    add("zip bomb", "refused", ("inner.zip", zipped({"s.mxl": zero_bomb("s.xml", 80 * MB)})), why="expand")

    # Nested archives, however they are named.
    inner = zipped({"a.mid": good})
    add("nested archive", "refused", ("outer.zip", zipped({"inner.zip": inner})), why="another archive")
    add("nested archive", "refused", ("outer.zip", zipped({"in.mid": inner})), why="another archive")
    add("nested archive", "refused", ("outer.zip", zipped({"in.abc": b"\x1f\x8b" + bytes(20)})))
    add("nested archive", "refused", ("outer.zip", zipped({"x.tar.gz": b"\x1f\x8b"})), why="another archive")
    deep = good
    for level in range(4):
        deep = zipped({f"level{level}.zip": deep})
    add("nested archive", "refused", ("deep.zip", deep), why="another archive")
    add("nested archive", "refused", ("in.mid", inner), why="not a midi")

    # Path tricks inside zips: traversal, absolute, drive letters, backslashes, symlinks, encryption.
    for member in ["../evil.mid", "../../../../tmp/evil.mid", "/etc/cron.d/evil.mid", "C:/evil.mid"]:
        add("zip path", "refused", ("set.zip", zipped({member: good})), why="unsafe path")
    add("zip path", "refused", ("set.zip", zipped({"a\\..\\..\\evil.mid": good})), why="unsafe path")
    add("zip path", "refused", ("set.zip", zipped({"ok/../../evil.mid": good})), why="unsafe path")
    add("zip path", "refused", ("link.zip", symlink_zip("link.mid", "/etc/passwd")), why="symbolic link")
    add(
        "zip path",
        "refused",
        ("link.zip", symlink_zip("link.abc", "../../../etc/passwd")),
        why="symbolic link",
    )
    add("zip path", "refused", ("locked.zip", encrypted_zip("a.mid", good)), why="encrypted")

    # Hostile attachment names: never used on disk (files are saved as 0001.mid...), so accepted.
    for name in [
        "../../escape.mid",
        "/etc/passwd.mid",
        "..\\..\\win.mid",
        "a" * 300 + ".mid",
        "`rm -rf ~`.mid",
        "new\nline.mid",
        "\u202eevil\u202c.mid",
        "con.mid",
    ]:
        add("hostile name", "accepted", (name, good))

    # Zero-note MIDI.
    add("zero notes", "accepted", ("empty-track.mid", midi([track([])])))
    add("zero notes", "accepted", ("meta-only.mid", midi([track([tempo(500_000), time_signature(4, 2)])])))
    silent = [(0, b"\x90\x3c\x00"), (480, b"\x90\x3c\x00")] * 8
    add("zero notes", "accepted", ("velocity0.mid", midi([track(silent)])))
    add("zero notes", "accepted", ("drums-only.mid", midi([track([(0, b"\xc9\x00"), (0, b"\xb0\x07\x64")])])))

    # Absurd tempos and time signatures (valid MIDI: the trainer may take or skip them, with a reason).
    for micro in (0, 1, 0xFFFFFF):
        add("absurd tempo", "accepted", (f"tempo{micro}.mid", tune([tempo(micro)])))
    add("absurd tempo", "accepted", ("tempo-storm.mid", tune([tempo(1 + i) for i in range(2000)])))
    for numerator, power in [(0, 0), (255, 0), (4, 255), (0, 2), (1, 31)]:
        name = f"meter{numerator}-{power}.mid"
        add("absurd time signature", "accepted", (name, tune([time_signature(numerator, power)])))

    # Structure at the limits: huge deltas, odd divisions, track counts, malformed events.
    long_gap = [(0, b"\x90\x3c\x50"), (0x0FFFFFFF, b"\x80\x3c\x00"), *notes(10)]
    add("huge delta", "refused", ("gap.mid", midi([track(long_gap)], division=1)), why="beats")
    add("huge delta", "refused", ("gap480.mid", midi([track([*notes(4), *long_gap])])), why="beats")
    add("huge delta", "refused", ("long-notes.mid", midi([track(notes(8, 480 * 2000))])), why="beats")
    add("huge delta", "refused", ("smpte.mid", tune(division=0xE728)), why="division")
    add("huge delta", "refused", ("division0.mid", tune(division=0)), why="division")
    add("huge delta", "refused", ("tracks.mid", midi([track(notes(4))] * 200)), why="tracks")
    add("huge delta", "refused", ("declared.mid", midi([track(notes(4))], declared=65535)), why="tracks")
    add("huge delta", "refused", ("missing.mid", midi([track(notes(4))], declared=2)), why="truncated")
    add("huge delta", "refused", ("vlq5.mid", midi([track([(0, b"")])[:8] + b"\xff\xff\xff\xff\x7f"])))
    running = b"MTrk" + struct.pack(">I", 4) + b"\x00\x3c\x50\x00"
    add("huge delta", "refused", ("running.mid", midi([running])), why="corrupt")
    add("huge delta", "refused", ("format9.mid", midi([track(notes(4))], fmt=9)), why="bad header")

    # Oversize files (declared sizes are checked before anything is downloaded).
    add("oversize", "refused", ("big.mid", good + bytes(UPLOAD_MAX_BYTES)), why="limit")
    add("oversize", "refused", ("big.zip", bytes(UPLOAD_MAX_BYTES + 1)), why="limit")
    add("oversize", "refused", ("big.abc", b"X:1\nK:C\n" + b"C" * UPLOAD_MAX_BYTES), why="limit")
    add("oversize", "refused", ("ok.mid", good), ("big.xml", b" " * (UPLOAD_MAX_BYTES + 1)), why="limit")

    # Too many files.
    add("too many files", "refused", ("a.mid", good), ("b.mid", good), ("c.mid", good), why="too many")
    add("too many files", "refused", ("a.exe", b"x"), ("b.mid", good), ("c.zip", inner), why="too many")
    add("too many files", "refused", ("a.mid", b""), ("b.mid", b""), ("c.mid", b""), why="too many")

    # Empty files.
    for name in ("empty.mid", "empty.midi", "empty.zip", "empty.mxl"):
        add("empty file", "refused", (name, b""))
    for name in ("empty.abc", "empty.xml", "empty.krn"):
        add("empty file", "accepted", (name, b""))

    # ABC with hostile content.
    for name, data in [
        ("long-note.abc", abc("CDEF GABc|C99999999|CDEF GABc|")),
        ("meter0.abc", abc("CDEF GABc|" * 4, header="M:0/0\nL:1/8\nK:C\n")),
        ("meter255.abc", abc("CDEF GABc|" * 4, header="M:255/1\nL:1/8\nK:C\n")),
        ("tempo0.abc", abc("CDEF GABc|" * 4, header="Q:1/4=0\nM:4/4\nL:1/8\nK:C\n")),
        ("length0.abc", abc("CDEF GABc|" * 4, header="L:1/0\nK:C\n")),
        ("repeats.abc", abc("|:" * 300 + "CDEF GABc" + ":|" * 300)),
        ("tunes.abc", b"".join(b"X:%d\nK:C\nCDEFGABc|\n\n" % i for i in range(2000))),
        ("badkey.abc", abc("CDEF GABc|" * 4, header="K:Q#dorian#####\n")),
        ("longline.abc", abc("C" * 100_000)),
        ("unicode.abc", abc("CDEF GABc|" * 4, header="T:\u202e\U0001f3b5\nK:C\n")),
    ]:
        add("hostile abc", "accepted", (name, data))

    # MusicXML with hostile content: entities, external DTDs, absurd numbers, deep nesting.
    body = xml_note() * 16
    add("hostile xml", "refused", ("laughs.xml", musicxml(body, doctype=LAUGHS)), why="entities")
    add("hostile xml", "refused", ("laughs.musicxml", musicxml(body, doctype=LAUGHS)), why="entities")
    external = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    add("hostile xml", "refused", ("xxe.xml", musicxml(body, doctype=external)), why="entities")
    utf16 = musicxml(body, doctype=LAUGHS).decode().replace('"1.0"?>', '"1.0" encoding="UTF-16"?>')
    add("hostile xml", "refused", ("utf16.xml", utf16.encode("utf-16")), why="not a text")
    add("hostile xml", "accepted", ("laughs.mxl", mxl(musicxml(body, doctype=LAUGHS))))
    add(
        "hostile xml",
        "accepted",
        ("dtd.xml", musicxml(body, doctype='<!DOCTYPE x SYSTEM "http://127.0.0.1:9/x.dtd">')),
    )
    add("hostile xml", "accepted", ("div0.xml", musicxml(body, divisions="0")))
    add("hostile xml", "accepted", ("div-nan.xml", musicxml(body, divisions="NaN")))
    add(
        "hostile xml",
        "accepted",
        ("long.xml", musicxml(xml_note() * 8 + xml_note(99_999_999) + xml_note() * 8)),
    )
    add("hostile xml", "accepted", ("deep.xml", musicxml("<a>" * 5000 + "</a>" * 5000 + body)))

    # Controls: a good file alone, and in a zip with junk beside it (training must start).
    add("control", "accepted", ("tune.mid", good))
    add(
        "control",
        "accepted",
        ("set.zip", zipped({"folk/reel.mid": good, "cover.jpg": b"\xff\xd8", "__MACOSX/._reel.mid": b"x"})),
    )
    return out


def summary(outcomes: list[tuple[Case, str]]) -> str:
    """A table of cases by kind and outcome."""
    counts = Counter((case.kind, outcome) for case, outcome in outcomes)
    kinds = list(dict.fromkeys(case.kind for case, _ in outcomes))
    columns = sorted({outcome for _, outcome in outcomes})
    width = max(len(k) for k in kinds) + 2
    lines = [f"{'kind':<{width}}" + "".join(f"{c:>18}" for c in columns) + f"{'total':>8}"]
    for kind in kinds:
        row = [counts[(kind, c)] for c in columns]
        lines.append(f"{kind:<{width}}" + "".join(f"{n:>18}" for n in row) + f"{sum(row):>8}")
    totals = [sum(counts[(k, c)] for k in kinds) for c in columns]
    lines.append(f"{'all':<{width}}" + "".join(f"{n:>18}" for n in totals) + f"{sum(totals):>8}")
    return "\n".join(lines)


if __name__ == "__main__":
    generated = cases()
    print(summary([(case, case.expect or "either") for case in generated]))
