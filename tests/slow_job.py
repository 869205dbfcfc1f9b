"""A test-only job type, `sleep`: `steps` steps of `step_s` seconds, progress at each step.

It returns its input array `x` doubled and how many steps ran, so a test can tell results
apart and see that a cancelled job stopped early. `serve_main` runs `motionfield serve`
with it registered, for tests that need a slow job in a server subprocess:

    python -c "import slow_job; slow_job.serve_main()" serve --connection-file F
"""

from __future__ import annotations

import sys
import time

import numpy as np

from motionfield import methods
from motionfield.server import jobs


def _run(params: dict, arrays: dict[str, np.ndarray], progress: jobs.Progress):
    steps = params["steps"]
    for step in range(steps):
        progress(step, steps, "sleeping")
        time.sleep(params["step_s"])
    progress(steps, steps, "done")
    x = arrays.get("x", np.zeros(0))
    return {"steps_done": steps, "tag": params["tag"]}, {"x": np.asarray(x) * 2}


JOB = SLEEP = jobs.JobType(
    name="sleep",
    label="Sleep",
    help="test only: sleep in steps, reporting progress",
    params={"steps": jobs.Param("integer", "how many steps", default=100, minimum=0,
                                maximum=100_000),
            "step_s": jobs.Param("number", "seconds per step", default=0.02, minimum=0,
                                 maximum=10),
            "tag": jobs.Param("integer", "echoed back", optional=True)},
    arrays={"x": "any float array, returned doubled"},
    run=_run,
)


def register() -> None:
    methods.register(SLEEP.name, __name__)


def unregister() -> None:
    methods.unregister(SLEEP.name)


def serve_main() -> None:
    from motionfield.cli import main

    register()
    sys.exit(main(sys.argv[1:]))
