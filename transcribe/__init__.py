"""Audio -> Transcript: decoding, speech recognition with faster-whisper, turns by speaker."""
from transcribe.errors import AudioError
from transcribe.transcriber import Transcriber, TranscriberOptions

__all__ = ["AudioError", "Transcriber", "TranscriberOptions"]
