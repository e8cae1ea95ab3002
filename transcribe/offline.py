"""Nothing leaves the machine: telemetry of the libraries we run is switched off, in this process
and (through the environment, which child processes inherit) in every process it starts.

- onnxruntime (faster-whisper's Silero VAD) sends 1DS telemetry events to
  mobile.events.data.microsoft.com from Linux and macOS builds and keeps a device id and an
  event queue under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime``. ``ORT_DISABLE_TELEMETRY=1``
  set before the runtime initializes stops the uploader, the events and the device id for the
  life of the process; ``disable_telemetry_events()`` covers a runtime someone initialized
  before us.
- pyannote.audio 4 sends usage metrics unless ``PYANNOTE_METRICS_ENABLED`` is false.
- huggingface_hub sends telemetry on some hub calls unless ``HF_HUB_DISABLE_TELEMETRY`` is set
  (the hub itself stays usable for a model or pipeline a user names).

Call audio is confidential; these switches are forced, whatever the environment said.
"""
from __future__ import annotations

import os
import sys

SWITCHES = {
    "ORT_DISABLE_TELEMETRY": "1",
    "PYANNOTE_METRICS_ENABLED": "false",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def switch_off_telemetry(load_runtime: bool = False) -> None:
    """Set the switches in this process's environment (inherited by every child it starts).

    load_runtime: also import onnxruntime now and disable its telemetry events through its API
    (done before the VAD loads). Without it, a runtime already imported is told all the same.
    """
    os.environ.update(SWITCHES)
    if load_runtime or "onnxruntime" in sys.modules:
        try:
            import onnxruntime
        except ImportError:  # no runtime, nothing to switch off (the VAD reports it when used)
            return
        disable = getattr(onnxruntime, "disable_telemetry_events", None)
        if disable is not None:
            disable()
