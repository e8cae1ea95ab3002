"""Shared fixtures: paths to the evaluation data, one Whisper model and one diarization pipeline
(each recording diarized once) for the whole run."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_STARTED = time.time()
EVAL = REPO.parent / "shared" / "eval"
EXAMPLES = REPO / "examples"


def eval_file(relative: str) -> Path:
    """A file of ../shared/eval; the test is skipped with a reason when the data is absent."""
    path = EVAL / relative
    if not path.is_file():
        pytest.skip(f"evaluation data not found: {path}")
    return path


@pytest.fixture(scope="session")
def transcriber():
    """The default Transcriber (shipped Whisper base, int8 on CPU), loaded once."""
    from transcribe import Transcriber

    return Transcriber()


class DiarizationCache:
    """Stands in for a `transcribe.diarizer.Diarizer` with default options: one offline pipeline
    (pyannote segmentation + CAM++), loaded on first use, and each recording diarized once per
    session. Results are kept by uri and audio content, so the same recording handed over again,
    directly or through `qa.diarization_eval.evaluate(..., diarizer=...)`, is not diarized again.

    PyTorch runs about twice as slow in a process where Whisper (CTranslate2) has computed: keep
    tests that diarize through this ahead of tests that use the in-process `transcriber`."""

    def __init__(self):
        self._diarizer = None
        self._results: dict = {}

    def __call__(self, audio, uri: str = "call"):
        import numpy as np

        samples = np.ascontiguousarray(audio, dtype=np.float32)
        key = (uri, samples.shape, hashlib.sha256(samples.tobytes()).hexdigest())
        if key not in self._results:
            if self._diarizer is None:
                from transcribe.diarizer import Diarizer

                self._diarizer = Diarizer()
            self._results[key] = self._diarizer(samples, uri=uri)
        return self._results[key]


@pytest.fixture(scope="session")
def diarizer() -> DiarizationCache:
    """The default offline diarizer, loaded once; each recording is diarized once per session."""
    return DiarizationCache()


@pytest.fixture(scope="session")
def inbound_rubric():
    from rubrics import rubric_path
    from scoring import load_rubric

    return load_rubric(rubric_path("inbound_support"))[0]


DEMO_CALLS = ["en_01_alice_good", "en_02_alice_nogreeting", "en_05_alice_hold_ok", "en_07_bob_abusive",
              "ru_01_olga_empathy", "tr_01_olga_hold"]


def qa(*args: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the real `qa` CLI in a subprocess."""
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def one_line_error(run: subprocess.CompletedProcess) -> str:
    """The error of a `qa` run stopped by a user's mistake: exit status 2, no traceback, and
    exactly one non-blank line on stderr, which is returned."""
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, run.stderr
    return lines[0]


@pytest.fixture(scope="session")
def scored(tmp_path_factory):
    """Example calls (plus a corrupt and an empty file) scored through the CLI, and the reports:
    (work folder, database path, completed `qa score` process)."""
    work = tmp_path_factory.mktemp("e2e")
    (work / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage that is not audio")
    (work / "empty.wav").write_bytes(b"")
    files = [str(EXAMPLES / f"{c}.wav") for c in DEMO_CALLS] + [str(work / "corrupt.wav"), str(work / "empty.wav")]
    db = work / "qa.duckdb"
    # The synthetic examples sit on clean, separate channels: decoded per channel, as `make demo` does.
    run = qa("score", *files, "--metadata", str(EXAMPLES / "calls.csv"), "--db", str(db), "--stereo", "channels",
             cwd=work)
    assert run.returncode == 0, run.stdout + run.stderr
    report = qa("report", "--db", str(db), "--out", str(work / "site"), cwd=work)
    assert report.returncode == 0, report.stdout + report.stderr
    return work, db, run


def pytest_terminal_summary(terminalreporter):
    """Name the report screenshots the browser tests took, so a reviewer can open them."""
    shots = sorted(p for p in (REPO / "build" / "screenshots").glob("*.png") if p.stat().st_mtime >= _STARTED)
    if shots:
        terminalreporter.write_line("report screenshots: " + ", ".join(str(p) for p in shots))
