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
