"""Opus in Ogg (RFC 7845), encoded by libopus on every core and muxed by libogg, through ctypes.

Opus in an ``.ogg`` file plays inline in Discord, as Vorbis did; libopus encodes a song in well
under half the time libvorbis takes through libsndfile (whose own Opus writer is slower still), and
the song is cut into one piece per core, each encoded on its own thread. A piece's encoder first
reads the 200 ms before the piece and its packets for them are dropped, so it reaches the piece in
the state the previous piece's encoder would have had; its packets then follow that encoder's in one
stream. Decoded, a join is as close to the source as the rest of the song (measured in 10 ms windows
around each join). Debian's libopus0 and libogg0 come with FluidSynth (through libsndfile1).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

RATE = 48000  # Opus codes 48 kHz audio
FRAME = 960  # 20 ms: the frame size Opus is best at for music
PREROLL_FRAMES = 10  # what a piece's encoder reads before its piece
MIN_PIECE_FRAMES = 500  # 10 s: shorter pieces are not worth a thread
COMPLEXITY = 5  # of 0..10: 10 takes 1.5x the time for a waveform SNR within 0.7 dB (measured)
MAX_PACKET = 4000  # bytes; RFC 6716 recommends this as the most a packet needs
SERIAL = 0x62676D  # the logical stream's serial number ("bgm"); any value will do in a one-stream file
_APPLICATION_AUDIO = 2049
_SET_BITRATE, _SET_COMPLEXITY, _SET_SIGNAL, _GET_LOOKAHEAD = 4002, 4010, 4024, 4027
_SIGNAL_MUSIC = 3002


class _Packet(ctypes.Structure):  # libogg's ogg_packet
    _fields_ = [
        ("packet", ctypes.c_void_p),
        ("bytes", ctypes.c_long),
        ("b_o_s", ctypes.c_long),
        ("e_o_s", ctypes.c_long),
        ("granulepos", ctypes.c_int64),
        ("packetno", ctypes.c_int64),
    ]


class _Page(ctypes.Structure):  # libogg's ogg_page
    _fields_ = [
        ("header", ctypes.c_void_p),
        ("header_len", ctypes.c_long),
        ("body", ctypes.c_void_p),
        ("body_len", ctypes.c_long),
    ]


_STREAM_STATE_BYTES = 1024  # sizeof(ogg_stream_state) is about 400 on 64-bit systems: room to spare
_libs: tuple[ctypes.CDLL, ctypes.CDLL] | None = None
_lock = threading.Lock()


def _load(name: str, fallback: str) -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library(name) or fallback)


def libraries() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    """libopus and libogg, with the signatures used here; OSError when either is missing."""
    global _libs
    with _lock:
        if _libs is None:
            opus, ogg = _load("opus", "libopus.so.0"), _load("ogg", "libogg.so.0")
            p, i = ctypes.c_void_p, ctypes.c_int
            opus.opus_encoder_create.restype = p
            opus.opus_encoder_create.argtypes = [ctypes.c_int32, i, i, ctypes.POINTER(i)]
            opus.opus_encoder_ctl.restype = i
            opus.opus_encode_float.restype = ctypes.c_int32
            opus.opus_encode_float.argtypes = [p, p, i, p, ctypes.c_int32]
            opus.opus_encoder_destroy.argtypes = [p]
            ogg.ogg_stream_init.argtypes = [p, i]
            ogg.ogg_stream_packetin.argtypes = [p, ctypes.POINTER(_Packet)]
            ogg.ogg_stream_pageout.argtypes = [p, ctypes.POINTER(_Page)]
            ogg.ogg_stream_flush.argtypes = [p, ctypes.POINTER(_Page)]
            ogg.ogg_stream_clear.argtypes = [p]
            _libs = opus, ogg
        return _libs


def available() -> bool:
    try:
        libraries()
    except OSError:
        return False
    return True


class _Encoder:
    def __init__(self, channels: int, bitrate: int, complexity: int) -> None:
        self._opus = opus = libraries()[0]
        error = ctypes.c_int()
        self._state = opus.opus_encoder_create(RATE, channels, _APPLICATION_AUDIO, ctypes.byref(error))
        if not self._state:
            raise RuntimeError(f"libopus could not start an encoder (error {error.value})")
        self.channels = channels
        state = ctypes.c_void_p(self._state)
        settings = ((_SET_BITRATE, bitrate), (_SET_COMPLEXITY, complexity), (_SET_SIGNAL, _SIGNAL_MUSIC))
        for request, value in settings:
            opus.opus_encoder_ctl(state, ctypes.c_int(request), ctypes.c_int(value))
        lookahead = ctypes.c_int()
        opus.opus_encoder_ctl(state, ctypes.c_int(_GET_LOOKAHEAD), ctypes.byref(lookahead))
        self.lookahead = lookahead.value

    def packets(self, pcm: np.ndarray, skip: int) -> list[bytes]:
        """One packet per 20 ms frame of ``pcm`` (float32, frames x channels), the first ``skip`` dropped."""
        buffer = ctypes.create_string_buffer(MAX_PACKET)
        base, stride = pcm.ctypes.data, FRAME * self.channels * 4
        out = []
        for k in range(len(pcm) // FRAME):
            size = self._opus.opus_encode_float(self._state, base + k * stride, FRAME, buffer, MAX_PACKET)
            if size < 0:
                raise RuntimeError(f"libopus could not encode a frame (error {size})")
            if k >= skip:
                out.append(ctypes.string_at(buffer, size))
        return out

    def close(self) -> None:
        self._opus.opus_encoder_destroy(self._state)


def _pieces(frames: int, workers: int) -> list[tuple[int, int]]:
    count = max(1, min(workers, frames // MIN_PIECE_FRAMES))
    bounds = [round(frames * i / count) for i in range(count + 1)]
    return list(zip(bounds, bounds[1:], strict=False))


def encode(audio: np.ndarray, bitrate: int, *, complexity: int = COMPLEXITY, workers: int | None = None):
    """Opus packets of ``audio`` (48 kHz float, frames x channels) and the encoder's lookahead."""
    channels = audio.shape[1]
    probe = _Encoder(channels, bitrate, complexity)
    lookahead = probe.lookahead
    probe.close()
    frames = -(-(len(audio) + lookahead) // FRAME)  # enough to carry the last sample out
    # Whole frames are read from ``audio`` itself; only the last ones, padded, from a copy (a padded
    # copy of the song is 60 MB of fresh memory, slow to touch the first time).
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    whole = len(audio) // FRAME
    last = np.zeros(((frames - whole) * FRAME, channels), dtype=np.float32)
    last[: len(audio) - whole * FRAME] = audio[whole * FRAME :]

    def piece(bounds: tuple[int, int]) -> list[bytes]:
        start, end = bounds
        skip = min(PREROLL_FRAMES, start)
        first = start - skip
        encoder = _Encoder(channels, bitrate, complexity)
        try:
            out = []
            if first < whole:
                out = encoder.packets(audio[first * FRAME : min(end, whole) * FRAME], skip)
                skip = max(0, skip - (min(end, whole) - first))
            if end > whole:  # the same encoder goes on into the padded frames
                out += encoder.packets(last[max(0, first - whole) * FRAME : (end - whole) * FRAME], skip)
            return out
        finally:
            encoder.close()

    pieces = _pieces(frames, workers or os.cpu_count() or 1)
    with ThreadPoolExecutor(len(pieces)) as pool:
        packets = [p for done in pool.map(piece, pieces) for p in done]
    return packets, lookahead


def write(audio: np.ndarray, path: str | Path, bitrate: int, **options) -> Path:
    """``audio`` (48 kHz float, frames x channels) as an Ogg Opus file at ``bitrate`` bits/s."""
    packets, lookahead = encode(audio, bitrate, **options)
    channels, samples = audio.shape[1], len(audio)
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, channels, lookahead, RATE, 0, 0)
    vendor = b"bgm (libopus)"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    ogg = libraries()[1]
    state = ctypes.create_string_buffer(_STREAM_STATE_BYTES)
    ogg.ogg_stream_init(state, SERIAL)
    page, chunks = _Page(), []

    def pages(flush: bool) -> None:
        take = ogg.ogg_stream_flush if flush else ogg.ogg_stream_pageout
        while take(state, ctypes.byref(page)):
            chunks.append(ctypes.string_at(page.header, page.header_len))
            chunks.append(ctypes.string_at(page.body, page.body_len))

    def put(data: bytes, number: int, granule: int, first: bool = False, last: bool = False) -> None:
        buffer = ctypes.create_string_buffer(data, len(data))
        packet = _Packet(ctypes.cast(buffer, ctypes.c_void_p), len(data), first, last, granule, number)
        ogg.ogg_stream_packetin(state, ctypes.byref(packet))

    try:
        put(head, 0, 0, first=True)
        pages(flush=True)  # the identification header has a page of its own
        put(tags, 1, 0)
        pages(flush=True)
        for i, data in enumerate(packets):
            last = i == len(packets) - 1
            # Granule positions count 48 kHz samples from the stream's start, the skipped lookahead
            # included; the last one says where the song ends, so the padding is not played.
            put(data, i + 2, lookahead + samples if last else (i + 1) * FRAME, last=last)
            pages(flush=False)
        pages(flush=True)
    finally:
        ogg.ogg_stream_clear(state)
    path = Path(path)
    path.write_bytes(b"".join(chunks))
    return path
