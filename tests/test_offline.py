"""Nothing leaves the machine: no library telemetry, no name lookup, no connection, in any process
`qa score` starts, and no telemetry state left in the user's home."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO, eval_file

MICROSOFT = Path(".cache") / "Microsoft"


def _bare_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment with an empty home and no cache settings but the model cache's. USER is
    set, as in a login session: without it torch asks the user database (nscd's socket) for the
    user's name at import."""
    from transcribe.model import cache_root

    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "CALLQA_CACHE": str(cache_root()),
            "PYTHONPATH": str(REPO), "USER": "callqa", "LOGNAME": "callqa", **extra}


def test_importing_transcribe_switches_telemetry_off_here_and_in_child_processes(tmp_path):
    """Importing onnxruntime alone creates ~/.cache/Microsoft/DeveloperTools/.onnxruntime (device
    id, event queue). After `import transcribe` it does not, in this process or in a spawned
    child that imports onnxruntime itself; the switches win over the environment's values."""
    script = textwrap.dedent("""
        import multiprocessing, os

        def child():
            import onnxruntime
            print("child", os.environ["ORT_DISABLE_TELEMETRY"])

        if __name__ == "__main__":
            import transcribe
            import onnxruntime
            print("parent", os.environ["ORT_DISABLE_TELEMETRY"], os.environ["PYANNOTE_METRICS_ENABLED"],
                  os.environ["HF_HUB_DISABLE_TELEMETRY"])
            p = multiprocessing.get_context("spawn").Process(target=child)
            p.start(); p.join()
    """)
    (tmp_path / "probe.py").write_text(script)
    home = tmp_path / "home"
    home.mkdir()
    env = _bare_env(home, ORT_DISABLE_TELEMETRY="0", PYANNOTE_METRICS_ENABLED="true", HF_HUB_DISABLE_TELEMETRY="0")
    out = subprocess.run([sys.executable, "probe.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["parent 1 false 1", "child 1"]
    assert not (home / MICROSOFT).exists(), sorted(str(p.relative_to(home)) for p in home.rglob("*"))


# -- a real `qa score` under strace ----------------------------------------------------------

# A connection or datagram to an address that is not this machine, or any use of the name
# service (nscd's socket, DNS on port 53).
_INET = re.compile(r'sa_family=AF_INET6?, sin6?_port=htons\((\d+)\),.*?(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")')


def _network_attempts(trace: str) -> list[str]:
    attempts = []
    for line in trace.splitlines():
        if "nscd" in line:
            attempts.append(line)
            continue
        found = _INET.search(line)
        if not found:
            continue
        port, address = int(found.group(1)), found.group(2) or found.group(3)
        local = address.startswith("127.") or address in ("::1", "0.0.0.0", "::")
        if port == 53 or not local:
            attempts.append(line)
    return attempts


_SITECUSTOMIZE = '''
# Loaded by every Python process of the test (PYTHONPATH): name lookups and connections off this
# machine are recorded and refused.
import os, socket

_LOG = os.environ["NETWORK_ATTEMPTS_LOG"]


def _local(host):
    if host is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    return host in ("localhost", "::1", "") or host.startswith("127.")


def _refuse(what, target):
    with open(_LOG, "a") as log:
        log.write(f"{os.getpid()} {what} {target!r}\\n")
    raise OSError(f"network disabled in test: {what} {target!r}")


def _guard_address(name, original, address_at):
    def guarded(sock, *args):
        address = args[address_at] if len(args) > address_at else None
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address is not None and not _local(address[0]):
            _refuse(name, address)
        return original(sock, *args)
    return guarded


def _guard_lookup(name, original):
    def guarded(host, *args, **kwargs):
        if not _local(host):
            _refuse(name, host)
        return original(host, *args, **kwargs)
    return guarded


socket.socket.connect = _guard_address("connect", socket.socket.connect, 0)
socket.socket.connect_ex = _guard_address("connect_ex", socket.socket.connect_ex, 0)
_sendto = socket.socket.sendto


def _guarded_sendto(sock, data, *rest):  # (data, address) or (data, flags, address)
    if rest and sock.family in (socket.AF_INET, socket.AF_INET6) and not _local(rest[-1][0]):
        _refuse("sendto", rest[-1])
    return _sendto(sock, data, *rest)


socket.socket.sendto = _guarded_sendto
for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
    setattr(socket, _name, _guard_lookup(_name, getattr(socket, _name)))
'''


def _usable_strace() -> str | None:
    """strace, where it is installed and may trace here (containers may forbid ptrace)."""
    strace = shutil.which("strace")
    if strace and subprocess.run([strace, "-f", "-o", os.devnull, "true"], capture_output=True).returncode == 0:
        return strace
    return None


def _python_level_attempts(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.slow
def test_qa_score_with_workers_sends_nothing_and_keeps_no_telemetry(tmp_path):
    """`qa score` of a real mono call (diarized in its own process) and a stereo example with two
    workers: no process it starts looks a name up or connects anywhere off this machine, and
    nothing appears under ~/.cache/Microsoft. Traced with strace (every process, native code
    included); without strace, Python's socket functions are refused in every process through a
    sitecustomize module (native code such as onnxruntime's uploader is then seen only through
    the folder it leaves)."""
    home = tmp_path / "home"
    home.mkdir()
    mono = eval_file("callytics_csvd/call/Call01.wav")
    stereo = EXAMPLES / "en_01_alice_good.wav"
    score = [sys.executable, "-m", "qa.cli", "score", str(mono), str(stereo), "--workers", "2", "--language", "en",
             "--db", str(tmp_path / "qa.duckdb")]
    env = _bare_env(home)
    strace = _usable_strace()
    if strace:
        trace = tmp_path / "trace.txt"
        command = [strace, "-f", "-qq", "-s", "200", "-e", "trace=connect,sendto,sendmsg,execve",
                   "-e", "signal=none", "-o", str(trace), *score]
    else:
        site = tmp_path / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
        env["PYTHONPATH"] = f"{site}{os.pathsep}{REPO}"
        env["NETWORK_ATTEMPTS_LOG"] = str(tmp_path / "attempts.log")
        command = score
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout + run.stderr
    output = run.stdout + run.stderr
    assert "scored Call01" in output and "scored en_01_alice_good" in output, output
    if strace:
        text = trace.read_text()
        # the trace followed the processes qa started: two workers and the diarizer's process
        assert text.count("spawn_main") >= 3, text[:2000]
        attempts = _network_attempts(text)
    else:
        attempts = _python_level_attempts(tmp_path / "attempts.log")
    assert attempts == [], "\n".join(attempts[:20])
    assert not (home / MICROSOFT).exists(), sorted(str(p.relative_to(home)) for p in home.rglob("*"))
