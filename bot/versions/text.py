"""What ``/bgm model`` says, from plain values (tested without Discord)."""

from __future__ import annotations

from datetime import UTC, datetime

from lifecycle.versions import VersionInfo

MAX_SHOWN = 10


def version_line(info: VersionInfo, failed: dict[int, str]) -> str:
    """``**3** · stable · lstm 192, window 64 · ppl 2.95 · gate accepted · 2026-12-02 · 12 MB``"""
    parts = [f"**{info.version}**"]
    if info.labels:
        parts.append(" ".join(f"`{label}`" for label in info.labels))
    parts.append(info.network)
    ppl = info.figures.get("val_perplexity")
    if isinstance(ppl, int | float):
        parts.append(f"ppl {ppl:.2f}")
    if info.gate:
        verdict = (
            "forced" if info.gate.get("forced") else "accepted" if info.gate.get("accepted") else "refused"
        )
        parts.append(f"gate {verdict}")
    if info.created:
        parts.append(datetime.fromtimestamp(info.created, UTC).strftime("%Y-%m-%d"))
    parts.append(f"{info.size_bytes / 1e6:.0f} MB")
    if info.version in failed:
        parts.append(f"⚠️ failed to load: {failed[info.version][:120]}")
    return " · ".join(parts)


def versions_text(versions: list[VersionInfo], failed: dict[int, str], problems: list[str]) -> str:
    if not versions:
        return "No model versions yet: train one with `/bgm train start`."
    lines = ["**Model versions** (newest first; songs use `stable`)"]
    lines += [version_line(v, failed) for v in versions[:MAX_SHOWN]]
    if len(versions) > MAX_SHOWN:
        lines.append(f"…and {len(versions) - MAX_SHOWN} older")
    lines += [f"⚠️ {problem[:300]}" for problem in problems[:3]]
    return "\n".join(lines)
