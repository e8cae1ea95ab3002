"""Audio -> Transcript: decoding, speech recognition with faster-whisper, turns by speaker."""
from transcribe.offline import switch_off_telemetry

switch_off_telemetry()  # before any model library loads, here and in every child process

from transcribe.errors import AudioError  # noqa: E402
from transcribe.transcriber import Transcriber, TranscriberOptions  # noqa: E402

__all__ = ["AudioError", "Transcriber", "TranscriberOptions"]
