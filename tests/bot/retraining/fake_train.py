"""A stand-in for ``bgm train`` that prints what training prints: ``fake_train.py MODE [train flags]``.

MODE: ok (publishes ``<models>/bgm/<N+1>``), fail (``bgm train:`` error, exit 1), crash (a traceback),
slow (an epoch, then sleeps until killed), silent (exits 0 without publishing).
"""

import argparse
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("mode")
parser.add_argument("--models", type=Path)
parser.add_argument("--epochs", type=int, default=2)
args, _ = parser.parse_known_args()
print("3 pieces from 3 files (0 skipped)", flush=True)
print("warning: something TensorFlow would say", file=sys.stderr, flush=True)
for epoch in range(1, args.epochs + 1):
    print(f"epoch {epoch}/{args.epochs}: 1,024 windows", flush=True)
    print("4/4 - 1s - 20ms/step - accuracy: 0.1 - loss: 4.0", flush=True)
    loss = 4.5 - epoch / 10
    print(
        f"  loss {loss:.3f}  acc 0.289  val_loss 4.273  val_acc 0.352  val_ppl 71.76  108 tokens/s",
        flush=True,
    )
    if args.mode == "slow":
        time.sleep(600)
if args.mode == "fail":
    print("bgm train: No usable music found: all 3 files were skipped.", file=sys.stderr)
    sys.exit(1)
if args.mode == "crash":
    raise ValueError("shapes do not match")
if args.mode == "ok":
    folder = args.models / "bgm"
    version = max([int(p.name) for p in folder.glob("[0-9]*")] or [0]) + 1
    (folder / str(version)).mkdir(parents=True)
    print(f"published {folder / str(version)}: val_loss 4.273, perplexity 71.76 (unigram 90.00)")
