"""A stand-in for ``bgm train`` that reports what training reports: ``fake_train.py MODE [train flags]``.

Its events are ``bgm.progress``'s, written as ``bgm train`` writes them (JSON lines with
``--json-progress``), among lines for people that a reader must skip.
MODE: ok (publishes ``<models>/bgm/<N+1>``), fail (``bgm train:`` error, exit 1), crash (a traceback),
slow (an epoch, then sleeps until killed), silent (exits 0 without publishing), refused (the quality
gate keeps the live model: a copy of ``<models>/bgm/1`` is left as ``<run dir>/candidate``, exit 3).
"""

import argparse
import shutil
import sys
import time
from pathlib import Path

from bgm.progress import EpochEnded, EpochStarted, Exporting, GateJudged, Published, Reporter

parser = argparse.ArgumentParser()
parser.add_argument("mode")
parser.add_argument("--models", type=Path)
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--json-progress", action="store_true")
parser.add_argument("--run-dir", type=Path)
args, _ = parser.parse_known_args()
report = Reporter(args.json_progress)
print("3 pieces from 3 files (0 skipped)", flush=True)
print("warning: something TensorFlow would say", file=sys.stderr, flush=True)
for epoch in range(1, args.epochs + 1):
    report(EpochStarted(epoch, args.epochs, 1024))
    print("4/4 - 1s - 20ms/step - accuracy: 0.1 - loss: 4.0", flush=True)
    report(EpochEnded(epoch, args.epochs, 4.5 - epoch / 10, 0.289, 4.273, 0.352, 71.76, 108.0))
    if args.mode == "slow":
        time.sleep(600)
if args.mode == "fail":
    print("bgm train: No usable music found: all 3 files were skipped.", file=sys.stderr)
    sys.exit(1)
if args.mode == "refused":
    report(Exporting(args.epochs))
    candidate = args.run_dir / "candidate"
    shutil.rmtree(candidate, ignore_errors=True)
    shutil.copytree(args.models / "bgm" / "1", candidate)
    songs = {"pitch_class_entropy": 0.0, "scale_consistency": 1.0, "empty_beat_rate": 0.0}
    live = {"pitch_class_entropy": 2.7, "scale_consistency": 0.98, "empty_beat_rate": 0.0}
    reason = "its songs collapse to few pitches (pitch-class entropy 0.00 bits < 1.0)"
    report(GateJudged(False, False, reason, 56.14, 4.54, 1, songs, live, str(candidate)))
    print(f"bgm train: quality gate: refused: {reason}", file=sys.stderr)
    sys.exit(3)
if args.mode == "crash":
    raise ValueError("shapes do not match")
if args.mode == "ok":
    report(Exporting(args.epochs))
    folder = args.models / "bgm"
    version = max([int(p.name) for p in folder.glob("[0-9]*")] or [0]) + 1
    (folder / str(version)).mkdir(parents=True)
    report(Published(version, str(folder / str(version)), 4.273, 71.76, 90.0))
