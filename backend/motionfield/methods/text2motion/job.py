"""The `text2motion` job: a sentence in, K variations of SMPL motion out, at any framerate.

The result stacks the K motions on one timeline (methods/results.py, `motions_arrays`):
rotations (K, T, 24, 4), root_translation (K, T, 3), times (T,). Cancelling stops the
sampler between its steps: the server's `progress` raises `Cancelled` once the client has
cancelled, and the sampler reports progress after every step.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from motionfield.errors import MotionfieldError
from motionfield.methods.results import (
    OUTPUT_FPS,
    check_frames,
    motions_arrays,
    motions_content,
)

# the CLI's hooks (methods/__init__.py): `motionfield generate`, `eval text2motion`, and
# `train` for the model and for the baselines
from motionfield.methods.text2motion.cli import add_commands  # noqa: F401
from motionfield.methods.text2motion.cli import add_train as _add_train_model
from motionfield.methods.text2motion.cli_eval import (
    add_eval,  # noqa: F401
    add_train_baselines,
)
from motionfield.methods.text2motion.config import (
    DEFAULT_GUIDANCE,
    MAX_CHAINED_SECONDS,
    MAX_SECONDS,
)
from motionfield.server.jobs import JobError, JobType, Param, Progress

MAX_PROMPT = 300       # characters; the encoder reads 256 word pieces at most
MAX_VARIATIONS = 8
MAX_SEED = 2**31 - 1    # Blender's IntProperty is 32-bit


def add_train(sub) -> None:
    """`motionfield train text2motion`, `text2motion-evaluator` and `text2motion-cvae`."""
    _add_train_model(sub)
    add_train_baselines(sub)


@lru_cache(maxsize=1)
def _model():
    """The shipped model, loaded once per backend process (MiniLM alone takes ~7 s)."""
    from motionfield.methods.text2motion import infer

    return infer.load()


def _prompt(params: dict) -> str:
    prompt = " ".join(params["prompt"].split())  # newlines and runs of spaces: one space
    if not prompt:
        raise JobError("text2motion: 'prompt' is empty; describe the motion, e.g. "
                       "'a person waves happily'")
    if len(prompt) > MAX_PROMPT:
        raise JobError(f"text2motion: 'prompt' is {len(prompt)} characters; at most "
                       f"{MAX_PROMPT}")
    return prompt


def _run(params: dict, arrays: dict[str, np.ndarray], progress: Progress):
    from motionfield.body.timing import parse_fps
    from motionfield.methods.text2motion import chain  # scipy: not for `info`

    prompt = _prompt(params)
    fps = parse_fps(str(params["fps"]))  # validated: a finite number in the schema's bounds
    count = params["variations"]
    check_frames(count * (params["seconds"] * float(fps) + 1), 24, "text2motion")
    progress(0, 1, "loading the model")
    try:
        model = _model()
        motions = []
        for k in range(count):  # variation k from seed + k, as `motionfield generate --samples`
            def sampled(step: int, total: int, k=k) -> None:  # raises Cancelled once cancelled
                progress(k * total + step, count * total, "sampling")

            motions.append(chain.generate(model, prompt, params["seconds"], fps,
                                          seed=params["seed"] + k, guidance=params["guidance"],
                                          progress=sampled))
    except MotionfieldError as e:  # not the server's Cancelled, which passes through
        raise JobError(str(e)) from None
    except ValueError as e:
        raise JobError(f"text2motion: {e}") from None
    progress(1, 1, "done")
    content = {**motions_content(motions), "prompt": prompt, "seeds": [
        params["seed"] + k for k in range(count)], "guidance": params["guidance"],
        "model": model.meta.get("data", ""), "licence": model.meta.get("licence", "")}
    return content, motions_arrays(motions)


JOB = TEXT2MOTION = JobType(
    name="text2motion",
    label="Text to Motion",
    help="Type what the body does; get several variations of SMPL motion at any framerate "
         "(NeRM-style latent diffusion; trained on Bandai Namco, CC BY-NC 4.0)",
    params={
        "prompt": Param("string", f"what the motion shows, e.g. 'a person waves happily' "
                                  f"(at most {MAX_PROMPT} characters)"),
        "seconds": Param("number", f"how long the motion lasts (over {MAX_SECONDS:g} s: "
                                   f"samples joined by the prediction method)", default=4.0,
                         minimum=1.0, maximum=MAX_CHAINED_SECONDS),
        "variations": Param("integer", "how many different motions to make from the prompt",
                            default=3, minimum=1, maximum=MAX_VARIATIONS),
        "seed": Param("integer", "variation k is drawn with seed + k - 1: the same seed and "
                                 "prompt give the same motions", default=0, minimum=0,
                      maximum=MAX_SEED),
        "guidance": Param("number", "how closely to follow the prompt (classifier-free "
                                    "guidance: 1 the plain model, 0 ignores the prompt, higher "
                                    "follows it more closely, with less variety)",
                          default=DEFAULT_GUIDANCE, minimum=0.0, maximum=10.0),
        "fps": OUTPUT_FPS,
    },
    run=_run, arrays={})
