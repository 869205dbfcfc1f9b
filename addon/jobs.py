"""The jobs this Blender session submitted: their stage and progress, and the last outcome.

Module state on purpose, never scene data: undo restores scene data, and a finished job's
row must not come back with it (nor a previous job's row during a job). No bpy module use.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Job:
    """One submitted job as the panel shows it."""

    id: str
    method: str
    message: str                                # the row's text, e.g. "continuing 02_01..."
    route: dict = field(default_factory=dict)   # what keying its result needs
    stage: str = "queued"
    percent: float = 0.0
    cancelling: bool = False


class Jobs:
    """Running jobs in submission order, and the message the last one ended with."""

    def __init__(self):
        self.running: dict[str, Job] = {}
        self.message = ""

    def start(self, job_id: str, method: str, message: str, route: dict) -> Job:
        """A new job's row: at 0 % with its own stage, whatever the last job reached."""
        job = self.running[job_id] = Job(job_id, method, message, route)
        return job

    def progress(self, job_id: str, content: dict) -> None:
        """A progress event's step of total (and its stage) as the job's percentage."""
        job = self.running.get(job_id)
        if job is None:
            return
        total = content.get("total") or 0
        step = content.get("step") or 0
        job.percent = min(max(100.0 * step / total, 0.0), 100.0) if total > 0 else 0.0
        job.stage = str(content.get("stage") or job.stage)

    def finish(self, job_id: str, message: str) -> Job | None:
        """Forget a job; its outcome becomes the panel's message."""
        self.message = message
        return self.running.pop(job_id, None)

    def finish_all(self, message: str) -> None:
        self.running.clear()
        self.message = message

    def current(self) -> Job | None:
        """The job the panel shows: the oldest still running."""
        return next(iter(self.running.values()), None)


JOBS = Jobs()
