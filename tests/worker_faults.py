"""Stand-ins for the transcription worker's two functions (`qa.runner._load_worker_model` and
`qa.runner._transcribe_in_worker`), importable in spawned worker processes: they load no model,
return a fixed transcript, and kill their own process (SIGKILL, as the OOM killer would) on
chosen files. Not a test module: tests monkeypatch the runner with these."""
from __future__ import annotations

import os
import signal

_started = None


def load(options, parent_pid: int | None = None, started=None) -> None:
    global _started
    from transcribe.lifecycle import start_helper_process

    if parent_pid is not None:
        start_helper_process(parent_pid)
    _started = started


def transcribe_or_die(job, index: int | None = None):
    """A file named *poison* kills its worker every time; one named *dies_once* the first time
    (a marker file beside it remembers)."""
    if _started is not None and index is not None:
        _started[index] = os.getpid()
    name = job.path.name
    marker = job.path.with_name(job.path.name + ".died")
    if "poison" in name or ("dies_once" in name and not marker.exists()):
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    from tests.builders import transcript
    from tests.test_scoring_engine import GOOD_CALL

    return transcript(GOOD_CALL)
