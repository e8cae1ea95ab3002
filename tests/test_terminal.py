"""User text on the terminal: escape codes in call ids, agent names and file names are shown as
\\x1b and never reach the terminal; letters of every script are shown as they are."""
from __future__ import annotations

import json
import subprocess
import sys

from qa.terminal import printable

CLEAR = "\x1b[2J"
RETITLE = "\x1b]0;pwned\x07"


def qa(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], cwd=cwd, capture_output=True,
                          encoding="utf-8", errors="surrogateescape", timeout=180)


def test_printable_escapes_control_characters_and_keeps_letters():
    assert printable("c1" + CLEAR) == "c1\\x1b[2J"
    assert printable(RETITLE) == "\\x1b]0;pwned\\x07"
    assert printable("a\x9b31mb\x00c\x7fd\re\nf\tg") == "a\\x9b31mb\\x00c\\x7fd\\re\\nf\\tg"
    assert printable("admin\u202etxt.exe") == "admin\\u202etxt.exe"  # right-to-left override
    assert printable("a\nb\tc\x1b", multiline=True) == "a\nb\tc\\x1b"
    for text in ("Zoë Müller", "Łukasz", "Олена", "王芳", "محمد", "שרה", "प्रिया", "김민준", "C:\\calls\\a.wav", "👩‍💻"):
        assert printable(text) == text
    assert printable(None) == "" and printable(42) == "42"


def test_escape_codes_in_ids_agents_and_file_names_never_reach_the_terminal(tmp_path):
    calls = [{"call_id": "c1" + CLEAR, "agent": RETITLE, "language": "en",
              "turns": [{"role": "agent", "start": 0.5, "end": 3.0, "text": "Thank you for calling, how can I help?"},
                        {"role": "customer", "start": 3.5, "end": 5.0, "text": "My card is blocked."}]}]
    (tmp_path / "calls.json").write_text(json.dumps(calls), encoding="utf-8")
    (tmp_path / f"bad{CLEAR}.json").write_text("{not json", encoding="utf-8")
    runs = {
        "import": qa("import", "calls.json", f"bad{CLEAR}.json", "--db", "qa.duckdb", cwd=tmp_path),
        "failures": qa("failures", "--db", "qa.duckdb", cwd=tmp_path),
        "report": qa("report", "--db", "qa.duckdb", "--out", f"site{CLEAR}", cwd=tmp_path),
        "export": qa("export", "--db", "qa.duckdb", "--out", f"bi{CLEAR}", cwd=tmp_path),
        "no such call": qa("export", "x" + RETITLE, "--db", "qa.duckdb", cwd=tmp_path),
    }
    for name, run in runs.items():
        assert "Traceback" not in run.stderr, (name, run.stderr)
        for stream in (run.stdout, run.stderr):
            assert "\x1b" not in stream and "\x07" not in stream, (name, stream)
    assert runs["import"].returncode == 0 and runs["report"].returncode == 0 and runs["export"].returncode == 0
    assert "c1\\x1b[2J" in runs["import"].stdout and "\\x1b]0;pwned\\x07" in runs["import"].stdout
    assert "bad\\x1b[2J.json" in runs["failures"].stdout
    assert "site\\x1b[2J" in runs["report"].stdout and "bi\\x1b[2J" in runs["export"].stdout
    assert "x\\x1b]0;pwned\\x07" in runs["no such call"].stderr
    assert (tmp_path / f"site{CLEAR}" / "index.html").is_file()  # the data itself is kept exactly
