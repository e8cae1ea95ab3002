#!/usr/bin/env python3
"""Generate synthetic stereo contact-centre calls for the QA demo.

Every call in ``dialogues.yaml`` is a list of lines ``[speaker, text]`` or
``[speaker, text, pause_before]`` where ``speaker`` is ``agent`` or
``customer``.  Each line is synthesised with espeak-ng, converted by sox to
16 kHz mono 16-bit PCM and placed on its speaker's channel of a stereo WAV
(the other channel stays silent).  Lines follow each other with a short
gap (0.4-0.8 s, drawn from a generator seeded by the call id) unless
``pause_before`` gives the gap explicitly; a long ``pause_before`` models a
hold and is filled with very quiet noise on both channels.

Voice settings (espeak-ng voice, speed, pitch and optional extra sox
effects) come from the per-language ``voices`` table of the YAML file and
can be overridden per call.  Every utterance is trimmed of leading and
trailing silence and peak-normalised to -3 dBFS.

The agent's channel is set per call (``agent_channel``: 0 = left, 1 = right).
Besides the WAV files an index ``calls.csv`` is written with the columns
``file,call_id,agent,team,date,language,agent_channel``.

The output is deterministic: re-running the script with the same
dialogues and the same espeak-ng/sox versions yields identical files.

Usage::

    python examples/make_calls.py                 # all calls into examples/
    python examples/make_calls.py --only en_01_alice_good --out /tmp/calls
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import subprocess
import sys
import tempfile
import wave
from array import array
from pathlib import Path

from ruamel.yaml import YAML

HERE = Path(__file__).resolve().parent
SAMPLE_RATE = 16_000
SAMPLE_WIDTH = 2  # bytes, 16-bit PCM
GAP_RANGE = (0.4, 0.8)  # seconds of silence between consecutive lines
LEAD_IN = 0.3  # seconds of silence before the first line
TAIL = 0.5  # seconds of silence after the last line
HOLD_MIN = 5.0  # pauses at least this long are treated as holds
CSV_COLUMNS = ["file", "call_id", "agent", "team", "date", "language", "agent_channel"]
SPEAKERS = ("agent", "customer")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=HERE,
        help="output directory for the WAV files and calls.csv (default: examples/)",
    )
    parser.add_argument(
        "--dialogues", type=Path, default=HERE / "dialogues.yaml",
        help="dialogue definitions (default: examples/dialogues.yaml)",
    )
    parser.add_argument(
        "--only", nargs="+", metavar="CALL_ID",
        help="render only these call ids (calls.csv always lists every call)",
    )
    parser.add_argument(
        "--hold-noise", type=int, default=8, metavar="AMPLITUDE",
        help="peak sample amplitude of the noise filling holds, 0 = digital "
             "silence (default: 8, about -72 dBFS)",
    )
    return parser.parse_args(argv)


def require_tools(*names: str) -> None:
    """Exit with a clear message when an external program is missing."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        sys.exit(f"missing required program(s): {', '.join(missing)}")


def load_dialogues(path: Path) -> dict:
    """Load and minimally validate the dialogue file."""
    with path.open(encoding="utf-8") as fh:
        data = YAML(typ="safe", pure=True).load(fh)
    for call in data["calls"]:
        if call["agent_channel"] not in (0, 1):
            raise ValueError(f"{call['call_id']}: agent_channel must be 0 or 1")
        for line in call["lines"]:
            if line[0] not in SPEAKERS or len(line) not in (2, 3):
                raise ValueError(f"{call['call_id']}: bad line {line!r}")
    return data


def voice_for(data: dict, call: dict, speaker: str) -> dict:
    """Return the espeak-ng settings (voice, speed, ...) for a speaker.

    Language defaults come from the top-level ``voices`` table; keys of a
    call's own ``voices`` mapping are merged over them.
    """
    settings = dict(data["voices"][call["language"]][speaker])
    settings.update(call.get("voices", {}).get(speaker, {}))
    return settings


def synthesize(text: str, settings: dict, workdir: Path) -> array:
    """Speak ``text`` with espeak-ng and return 16 kHz mono int16 samples.

    ``settings`` holds the espeak-ng ``voice`` and optionally ``speed``
    (words per minute), ``pitch`` (0-99) and ``effects`` (extra sox effects
    such as ``"bass +6"``, which makes some voices easier for Whisper to
    recognise).  Leading and trailing silence of the utterance is trimmed
    so the gaps between lines are exact.
    """
    raw = workdir / "espeak.wav"
    pcm = workdir / "line.wav"
    subprocess.run(
        ["espeak-ng", "-v", settings["voice"],
         "-s", str(settings.get("speed", 160)),
         "-p", str(settings.get("pitch", 50)),
         "-w", str(raw), text],
        check=True,
    )
    # -D: no dither, so the conversion is bit-exact reproducible.
    # silence/reverse twice trims both ends; gain -n normalises every line
    # to -3 dBFS peak (same loudness for all voices, no clipping).
    subprocess.run(
        ["sox", "-D", "-V1", str(raw),
         "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
         str(pcm), *settings.get("effects", "").split(),
         "silence", "1", "0.02", "-50d", "reverse",
         "silence", "1", "0.02", "-50d", "reverse",
         "gain", "-n", "-3"],
        check=True,
    )
    return read_mono(pcm)


def read_mono(path: Path) -> array:
    """Read a 16-bit mono WAV file into an int16 array."""
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == SAMPLE_WIDTH
        assert wav.getframerate() == SAMPLE_RATE
        samples = array("h", wav.readframes(wav.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def silence(seconds: float) -> array:
    """Return ``seconds`` of digital silence."""
    return array("h", bytes(SAMPLE_WIDTH * round(seconds * SAMPLE_RATE)))


def noise(seconds: float, amplitude: int, rng: random.Random) -> array:
    """Return ``seconds`` of uniform noise with the given peak amplitude."""
    if amplitude <= 0:
        return silence(seconds)
    count = round(seconds * SAMPLE_RATE)
    return array("h", (rng.randint(-amplitude, amplitude) for _ in range(count)))


def build_call(data: dict, call: dict, workdir: Path, hold_noise: int) -> tuple[array, array]:
    """Render one call; return the (agent, customer) channel sample arrays."""
    gap_rng = random.Random(f"make_calls:{call['call_id']}")
    noise_rng = random.Random(f"noise:{call['call_id']}")
    tracks = {"agent": silence(LEAD_IN), "customer": silence(LEAD_IN)}
    for index, line in enumerate(call["lines"]):
        speaker, text = line[0], line[1]
        if len(line) == 3:
            pause = float(line[2])
        else:
            pause = 0.0 if index == 0 else round(gap_rng.uniform(*GAP_RANGE), 2)
        if pause >= HOLD_MIN:
            for name in SPEAKERS:
                tracks[name].extend(noise(pause, hold_noise, noise_rng))
        else:
            for name in SPEAKERS:
                tracks[name].extend(silence(pause))
        speech = synthesize(text, voice_for(data, call, speaker), workdir)
        tracks[speaker].extend(speech)
        other = "customer" if speaker == "agent" else "agent"
        tracks[other].extend(silence(len(speech) / SAMPLE_RATE))
    for name in SPEAKERS:
        tracks[name].extend(silence(TAIL))
    return tracks["agent"], tracks["customer"]


def write_stereo(path: Path, left: array, right: array) -> None:
    """Write two equally long int16 arrays as a stereo 16 kHz WAV file."""
    assert len(left) == len(right)
    frames = array("h", bytes(2 * SAMPLE_WIDTH * len(left)))
    frames[0::2] = left
    frames[1::2] = right
    if sys.byteorder == "big":
        frames.byteswap()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(frames.tobytes())


def render_call(data: dict, call: dict, out_dir: Path, hold_noise: int) -> None:
    """Render one call to ``<call_id>.wav`` in ``out_dir``."""
    with tempfile.TemporaryDirectory(prefix="make_calls_") as tmp:
        agent, customer = build_call(data, call, Path(tmp), hold_noise)
    channels = (agent, customer) if call["agent_channel"] == 0 else (customer, agent)
    filename = wav_name(call)
    write_stereo(out_dir / filename, *channels)
    print(f"{filename}: {len(agent) / SAMPLE_RATE:.1f} s", file=sys.stderr)


def wav_name(call: dict) -> str:
    """File name of a call's recording."""
    return f"{call['call_id']}.wav"


def index_row(call: dict) -> dict:
    """Return the calls.csv row describing one call."""
    return {
        "file": wav_name(call),
        "call_id": call["call_id"],
        "agent": call["agent"],
        "team": call["team"],
        "date": str(call["date"]),
        "language": call["language"],
        "agent_channel": call["agent_channel"],
    }


def write_index(path: Path, rows: list[dict]) -> None:
    """Write calls.csv."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    require_tools("espeak-ng", "sox")
    data = load_dialogues(args.dialogues)
    calls = data["calls"]
    if args.only:
        unknown = set(args.only) - {call["call_id"] for call in calls}
        if unknown:
            sys.exit(f"unknown call id(s): {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    for call in calls:
        if not args.only or call["call_id"] in args.only:
            render_call(data, call, args.out, args.hold_noise)
    write_index(args.out / "calls.csv", [index_row(call) for call in calls])
    return 0


if __name__ == "__main__":
    sys.exit(main())
