"""Building the whole Bandai Namco archive (datasets 1 and 2) into cached SMPL sets:
2 worker processes (ours, the default on this 2-core machine) against 1 (serial).

    python benchmarks/bench_data_build.py [--json benchmarks/results/data_build.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from results_io import report

from motionfield.data.build import build


def timed_build(workers: int) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        for source in ("bandai-namco-1", "bandai-namco-2"):
            dest = build(source, Path(tmp), workers=workers, progress=False)
            out[source] = json.loads((dest / "manifest.json").read_text())["frames"]
        out["seconds"] = time.perf_counter() - began
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="benchmarks/results/data_build.json")
    args = parser.parse_args()
    result = {"parallel_2_workers": timed_build(2), "serial_1_worker": timed_build(1),
              "target_s": 120}
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
