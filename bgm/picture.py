"""A song as a picture: a piano roll of its parts, one colour each, its sections marked, as a PNG.

Drawn with matplotlib's object API (no pyplot: no global figure state shared between threads) on
the Agg canvas, which needs no display.
"""

from __future__ import annotations

from pathlib import Path

from bgm.arrangement import Arrangement
from bgm.form import Section

COLOURS = {"melody": "#e8590c", "harmony": "#4c6ef5", "bass": "#2b8a3e", "drums": "#868e96"}
SECTION_NAMES = {"verse1": "verse 1", "verse2": "verse 2", "chorus": "chorus", "bridge": "bridge"}
SIZE_IN, DPI = (12.0, 4.5), 100  # 1200 x 450 pixels: what a Discord embed shows without scaling down


def draw_piano_roll(arrangement: Arrangement, sections: list[Section], path: Path, title: str = "") -> Path:
    """Write ``arrangement``'s piano roll to ``path`` (PNG): time in bars (of its meter) across, pitch up."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    figure = Figure(figsize=SIZE_IN, dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    bar = arrangement.meter.bar
    bars = arrangement.steps / bar
    pitched = [n.pitch for t in arrangement.tracks if not t.is_drum for n in t.notes]
    low, high = (min(pitched), max(pitched)) if pitched else (48, 84)
    for track in arrangement.tracks:
        colour = COLOURS.get(track.name, "#000000")
        if track.is_drum:
            # Ticks in a strip under the lowest note, not at their key numbers (36-49, among the bass).
            spans = [(n.start / bar, 0.12) for n in track.notes]
            axes.broken_barh(spans, (low - 5, 2.5), facecolors=colour, alpha=0.8)
            continue
        for note in track.notes:
            axes.broken_barh(
                [(note.start / bar, note.steps / bar)],
                (note.pitch - 0.4, 0.8),
                facecolors=colour,
                alpha=0.9 if track.name == "melody" else 0.6,
            )
    for section in sections:
        at = section.start / bar
        axes.axvline(at, color="#212529", linewidth=1, alpha=0.5)
        axes.text(at + 0.1, high + 2, SECTION_NAMES.get(section.name, section.name), fontsize=9, va="bottom")
    axes.set_xlim(0, bars)
    axes.set_ylim(low - 6, high + 5)
    axes.set_xlabel("bar")
    axes.set_ylabel("MIDI pitch")
    if title:
        axes.set_title(title, fontsize=11, loc="left")
    names = [t.name for t in arrangement.tracks if t.notes]
    figure.legend(  # above the roll, right of the title: clear of the notes and the section names
        handles=[Patch(color=COLOURS.get(n, "#000000"), label=n) for n in names],
        loc="upper right",
        fontsize=8,
        ncols=len(names) or 1,
        frameon=False,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
