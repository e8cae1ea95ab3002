"""The shipped Whisper base model: assembled once, checked by size and SHA-256."""
from __future__ import annotations

import pytest

from transcribe import model
from transcribe.errors import ModelError


def test_shipped_model_is_assembled_and_verified():
    path = model.assemble_shipped_model()
    assert (path / "model.bin").stat().st_size == model.SHIPPED_SIZE
    assert model.file_sha256(path / "model.bin") == model.SHIPPED_SHA256
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (path / name).is_file()


def test_model_names_and_folders_pass_through(tmp_path):
    assert model.resolve_model("large-v3") == "large-v3"
    assert model.resolve_model("Systran/faster-whisper-small") == "Systran/faster-whisper-small"
    assert model.resolve_model(str(tmp_path)) == str(tmp_path)
    assert model.resolve_model(None) == model.resolve_model("base")


def test_corrupt_parts_are_rejected(tmp_path, monkeypatch):
    for part in ("part1", "part2"):
        d = tmp_path / part / "data"
        d.mkdir(parents=True)
        (d / f"model.bin.{part}").write_bytes(b"not a model")
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            (d / name).write_text("{}")
    monkeypatch.setattr(model, "_part_dir", lambda package: tmp_path / package[-5:] / "data")
    target = tmp_path / "assembled"
    with pytest.raises(ModelError, match="does not match the expected size"):
        model.assemble_shipped_model(target)
    assert not (target / "model.bin").exists()


_ASSEMBLE_AT_ONCE = """
import sys, time
from pathlib import Path
from transcribe import model
ready, start = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not start.exists():
    time.sleep(0.001)
print(model.assemble_shipped_model())
"""


def test_processes_assembling_at_once_on_an_empty_cache_all_succeed(tmp_path):
    """A first run with several workers: each assembles the shipped model at the same moment
    into the same empty cache; all get the one verified model and nothing is left half-written."""
    import os
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    cache = tmp_path / "cache"
    env = {**os.environ, "CALLQA_CACHE": str(cache)}
    start = tmp_path / "start"
    ready = [tmp_path / f"ready{i}" for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", _ASSEMBLE_AT_ONCE, str(r), str(start)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in ready]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    start.touch()  # every process is imported and waiting: they start together
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (out, errors) in zip(procs, results):
        assert proc.returncode == 0, errors
        assert errors == ""
    target = cache / "whisper-base-ct2"
    assert {out.strip() for out, _ in results} == {str(target)}
    assert (target / "model.bin").stat().st_size == model.SHIPPED_SIZE
    assert model.file_sha256(target / "model.bin") == model.SHIPPED_SHA256
    assert sorted(p.name for p in target.iterdir()) == [".verified", "config.json", "model.bin",
                                                        "tokenizer.json", "vocabulary.txt"]


def test_an_interrupted_assembly_is_redone_and_its_leftovers_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLQA_CACHE", str(tmp_path))
    target = tmp_path / "whisper-base-ct2"
    target.mkdir()
    (target / "model.bin").write_bytes(b"half a model")  # renamed by an older version, never stamped
    (target / "model.bin.partial").write_bytes(b"left by a killed run")
    (target / ".model.bin.x1y2.partial").write_bytes(b"left by a killed run")
    assert model.resolve_model(None) == str(target)
    assert model.file_sha256(target / "model.bin") == model.SHIPPED_SHA256
    assert not list(target.glob("*.partial"))


def test_an_assembled_model_is_found_without_hashing(tmp_path, monkeypatch):
    target = model.assemble_shipped_model()
    monkeypatch.setattr(model, "file_sha256", lambda path: pytest.fail("hashed on the fast path"))
    monkeypatch.setattr(model, "_write_temporary", lambda *a: pytest.fail("assembled again"))
    assert model.assemble_shipped_model() == target


@pytest.mark.parametrize("name, reason", [("/no/such/model/folder", "folder not found"),
                                          ("./models/missing", "folder not found"),
                                          ("~/no-such-model-folder-here/x", "folder not found")])
def test_a_model_path_that_is_no_folder_is_one_model_error(name, reason):
    with pytest.raises(ModelError, match=f"model {name}: {reason}"):
        model.resolve_model(name)


def test_a_model_path_that_is_a_file_is_one_model_error(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="is not a folder"):
        model.resolve_model(str(tmp_path / "model.bin"))


def test_a_mistyped_local_model_folder_is_one_model_error_before_any_download(tmp_path, monkeypatch):
    """`models/whisper-smal` has the shape of a hub name, but `models/` is a folder here: the
    user meant a local folder, and is told so (with the close match) instead of a hub lookup."""
    (tmp_path / "models" / "whisper-small").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match=r"models/whisper-smal: folder not found; did you mean models/whisper-small\?"):
        model.resolve_model("models/whisper-smal")
    assert model.resolve_model("models/whisper-small") == "models/whisper-small"
    assert model.resolve_model("Systran/faster-whisper-small") == "Systran/faster-whisper-small"
