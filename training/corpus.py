"""Finding music files and turning them into cached token streams.

Parsing with music21 is slow (minutes for the default corpus), so each file's
pieces are cached as JSON keyed by the file's content hash and the tokenizer
version: a second run, or a run that adds a few files, parses only what is new.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import tempfile
import zipfile
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from bgm.score import Piece
from bgm.tokens import TOKENIZER_VERSION

MUSIC_SUFFIXES = (".mid", ".midi", ".mxl", ".musicxml", ".xml", ".abc", ".krn")
DEFAULT_COLLECTIONS = ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs", "miscFolk", "bach")
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ARCHIVE_BYTES = 200 * 1024 * 1024  # expanded size of one zip: more is a zip bomb
MAX_ARCHIVE_MEMBERS = 5000
# One file's parse, in its worker. music21 builds every measure, so a few bytes (a note 2^28 ticks
# long, `C99999999` in ABC) can take hours and gigabytes; normal files take seconds (a 16-track MIDI
# of 32,000 notes about 80 s on a slow core). Read when ``load`` is called.
PARSE_TIME_S = 300.0
PARSE_MEMORY_BYTES = 3 * 1024**3  # on top of what the worker maps when it starts


@dataclass(frozen=True)
class Source:
    """One music file to parse: its name for messages, its bytes and format."""

    name: str
    data: bytes
    suffix: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


def default_corpus_files() -> list[Path]:
    from music21 import corpus

    files = []
    for collection in DEFAULT_COLLECTIONS:
        files += [Path(p) for p in corpus.getComposer(collection)]
    return sorted(f for f in files if f.suffix.lower() in MUSIC_SUFFIXES)


def collect(paths: Iterable[Path]) -> tuple[list[Source], list[Skipped]]:
    """Sources from files, folders (recursively) and .zip archives; the rest skipped with a reason."""
    sources: list[Source] = []
    skipped: list[Skipped] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.exists():
            files = [path]
        else:
            skipped.append(Skipped(str(path), "no such file or folder"))
            continue
        for file in files:
            _add_file(file, sources, skipped)
    return sources, skipped


def _add_file(file: Path, sources: list[Source], skipped: list[Skipped]) -> None:
    suffix = file.suffix.lower()
    if suffix == ".zip":
        _add_archive(file, sources, skipped)
    elif suffix not in MUSIC_SUFFIXES:
        skipped.append(
            Skipped(str(file), f"not a music file (expected one of {', '.join(MUSIC_SUFFIXES)} or .zip)")
        )
    elif file.stat().st_size > MAX_FILE_BYTES:
        skipped.append(Skipped(str(file), f"larger than {MAX_FILE_BYTES // 1024 // 1024} MiB"))
    else:
        sources.append(Source(str(file), file.read_bytes(), suffix))


def _add_archive(file: Path, sources: list[Source], skipped: list[Skipped]) -> None:
    """Music files inside a zip, read in memory: nothing is extracted, so names cannot escape."""
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as error:
        skipped.append(Skipped(str(file), f"not a readable zip archive ({error})"))
        return
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ARCHIVE_MEMBERS:
            skipped.append(Skipped(str(file), f"more than {MAX_ARCHIVE_MEMBERS} files"))
            return
        if sum(m.file_size for m in members) > MAX_ARCHIVE_BYTES:
            skipped.append(Skipped(str(file), f"expands past {MAX_ARCHIVE_BYTES // 1024 // 1024} MiB"))
            return
        for member in members:
            name = f"{file}:{member.filename}"
            suffix = PurePosixPath(member.filename).suffix.lower()
            if suffix == ".zip":
                skipped.append(Skipped(name, "nested archives are not read"))
            elif suffix not in MUSIC_SUFFIXES:
                skipped.append(Skipped(name, "not a music file"))
            elif member.file_size > MAX_FILE_BYTES:
                skipped.append(Skipped(name, f"larger than {MAX_FILE_BYTES // 1024 // 1024} MiB"))
            else:
                try:
                    data = _read_member(archive, member)
                except (zipfile.BadZipFile, OSError, ValueError) as error:
                    skipped.append(Skipped(name, f"unreadable in the archive ({error})"))
                else:
                    sources.append(Source(name, data, suffix))


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    # The header's size can lie; read no more than the limit allows.
    with archive.open(member) as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError("expands past the size limit")
    return data


def parse_source(source: Source) -> list[Piece]:
    """Pieces of one source; raises ``ValueError`` with a short reason when it is not music."""
    from music21 import converter

    from bgm.score import pieces_of

    fmt = {".mid": "midi", ".midi": "midi", ".abc": "abc", ".krn": "humdrum"}.get(source.suffix, "musicxml")
    try:
        # music21 reads compressed .mxl and MIDI reliably only from a file.
        with tempfile.TemporaryDirectory(prefix="bgm-parse-") as tmp:
            path = Path(tmp) / f"piece{source.suffix}"
            path.write_bytes(source.data)
            parsed = converter.parse(path, format=fmt, forceSource=True)
        pieces = pieces_of(parsed, source.name)
    except MemoryError:
        raise ValueError("needs too much memory to parse (far too long or too complex)") from None
    except Exception as error:  # music21 raises anything from IndexError to its own exceptions
        raise ValueError(
            f"could not be parsed as {fmt} ({type(error).__name__}: {str(error)[:120]})"
        ) from None
    if not pieces:
        raise ValueError("has no piece with enough notes")
    return pieces


class _OutOfTime(BaseException):
    """The parse's alarm: a BaseException, so music21's own ``except Exception`` cannot swallow it."""


def _limit_memory(extra_bytes: int) -> None:
    """Pool initializer: cap this worker's address space (a MemoryError then ends one parse)."""
    import resource

    try:
        with open("/proc/self/statm") as statm:
            mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = mapped + extra_bytes if hard == resource.RLIM_INFINITY else min(mapped + extra_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (OSError, ValueError):
        pass  # no /proc (not Linux): the time limit still holds


def _parse_to_cache(source: Source, cache_file: Path, time_s: float = PARSE_TIME_S) -> list[dict] | str:
    """Parse in a worker process, within ``time_s``; the outcome, a failure too, is cached by content."""
    armed = True

    def out_of_time(signum, frame):
        if armed:
            raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, time_s)
    try:
        result: list[dict] | str = [p.to_dict() for p in parse_source(source)]
    except ValueError as error:
        result = str(error)
    except _OutOfTime:
        # Not cached: how long a parse takes depends on the machine, not only on the file.
        return f"took longer than {time_s:g} s to parse (far too long or too complex)"
    finally:
        armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"pieces": result} if isinstance(result, list) else {"error": result}))
    tmp.replace(cache_file)
    return result


def _read_cache(cache_file: Path) -> list[dict] | str:
    data = json.loads(cache_file.read_text())
    return data["error"] if "error" in data else data["pieces"]


def load(
    sources: list[Source], cache_dir: Path, workers: int | None = None, progress: bool = True
) -> tuple[list[Piece], list[Skipped]]:
    """Pieces of every source, parsing on all cores only what the cache lacks."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    results: dict[int, list[dict] | str] = {}
    todo = []
    for i, source in enumerate(sources):
        cache_file = cache_dir / f"{source.digest}-t{TOKENIZER_VERSION}.json"
        if cache_file.exists():
            results[i] = _read_cache(cache_file)
        else:
            todo.append((i, source, cache_file))
    bar = tqdm(total=len(sources), initial=len(results), unit="file", desc="parsing", disable=not progress)
    if todo:
        # Every parse in a worker, bounded in time and memory: uploads are anyone's files. Spawned, not
        # forked: a fork of a process whose TensorFlow or gRPC threads hold a lock can abort the child.
        with ProcessPoolExecutor(
            max_workers=workers or os.cpu_count(),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_limit_memory,
            initargs=(PARSE_MEMORY_BYTES,),
        ) as pool:
            futures = {pool.submit(_parse_to_cache, s, c, PARSE_TIME_S): i for i, s, c in todo}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
    bar.close()
    pieces, skipped = [], []
    for i, source in enumerate(sources):
        result = results[i]
        if isinstance(result, str):
            skipped.append(Skipped(source.name, result))
        else:
            pieces += [Piece.from_dict(d) for d in result]
    return pieces, skipped
