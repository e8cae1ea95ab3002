"""Helper processes (transcription workers, the diarizer's process) end with the process that
started them.

A pool worker waits for work from its parent for ever: when the parent is killed (SIGKILL, the
OOM killer) nobody tells it, and a worker holding a Whisper model (~0.8 GB) would sit idle until
the machine reboots. Each helper process watches its parent instead and exits once the parent is
gone (the process is then re-parented, so its parent pid changes). Polling the parent pid works
on Linux and macOS alike and does not depend on which thread started the process (Linux's
PR_SET_PDEATHSIG fires when that thread ends, not the process). POSIX only: on Windows a
process keeps its parent pid after the parent exits, so the watch never fires there.
"""
from __future__ import annotations

import os
import threading
import time

POLL_SECONDS = 0.5
ORPHAN_EXIT_CODE = 70


def exit_with_parent(parent_pid: int, poll_seconds: float = POLL_SECONDS) -> threading.Thread | None:
    """Start a daemon thread that ends this process as soon as `parent_pid` is no longer its
    parent. Returns the thread (None when the parent is already gone: the process exits)."""
    if os.getppid() != parent_pid:
        os._exit(ORPHAN_EXIT_CODE)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_seconds)
        # Nobody is left to receive results: exit at once, without the interpreter's clean-up
        # (which would wait for this process's own children; they watch us the same way).
        os._exit(ORPHAN_EXIT_CODE)

    watcher = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    watcher.start()
    return watcher


def start_helper_process(parent_pid: int) -> None:
    """What every helper process runs first: telemetry off, and an exit when its parent dies."""
    from transcribe.offline import switch_off_telemetry

    switch_off_telemetry()
    exit_with_parent(parent_pid)
