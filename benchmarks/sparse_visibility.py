"""How much partial visibility costs as the headset's volume widens: the shipped model and
the AvatarPoser-style baseline on the val takes, tracked through wider volumes than the
default (hands seen more often). Writes benchmarks/results/sparse_val_visibility.json.

    python benchmarks/sparse_visibility.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from motionfield.checkpoints import shipped
from motionfield.methods.sparse import data, infer
from motionfield.methods.sparse.config import SHIPPED_BASELINE, Headset
from motionfield.methods.sparse.eval import evaluate

VOLUMES = {
    "down 80, sides 80": Headset(down_deg=80.0, horizontal_deg=80.0),
    "down 90, sides 90, reach 1.2 m": Headset(down_deg=90.0, horizontal_deg=90.0, far_m=1.2),
}
KEEP = ("mpjpe_cm", "mpjve_cm_s", "mpjpe_cm@unseen", "hand_cm@unseen")


def main() -> int:
    torch.set_num_threads(1)
    takes = data.load_takes(splits=("val",), progress=False)
    solvers = {"ours": infer.load(), "avatarposer": infer.load(shipped("sparse",
                                                                       SHIPPED_BASELINE))}
    report = evaluate(solvers, takes, progress=False, settings=VOLUMES)
    out = {name: {"settings": kit.to_dict(), "seen_share": report[name]["seen_share"],
                  **{m: {c: report[name][m][c] for c in KEEP} for m in solvers}}
           for name, kit in VOLUMES.items()}
    text = json.dumps(out, indent=1)
    print(text)
    Path("benchmarks/results/sparse_val_visibility.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
