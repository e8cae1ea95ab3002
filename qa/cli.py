"""`qa`: score recorded calls against a YAML rubric and write coaching reports."""
from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from qa.terminal import printable

app = typer.Typer(
    help="Offline call QA: transcribe recorded calls, score them against a YAML rubric, "
         "store results in DuckDB and write HTML coaching reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


def _register_subcommands() -> None:
    from qa.eval_cli import eval_app
    from qa.review_cli import register as register_review
    from qa.rubric_cli import rubric_app

    app.add_typer(rubric_app, name="rubric")
    app.add_typer(eval_app, name="eval")
    app.command(name="serve")(__import__("qa.serve", fromlist=["serve"]).serve)
    register_review(app)


_register_subcommands()

DB_OPTION = typer.Option(Path("qa.duckdb"), "--db", help="DuckDB file holding calls and scores.")


def _load_rubric(name_or_path: str):
    """(rubric, YAML text) of a shipped rubric name or a file; exits with one line on a fault."""
    from rubrics import rubric_path
    from scoring import RubricError, load_rubric

    try:
        return load_rubric(rubric_path(name_or_path))
    except RubricError as exc:
        _fail(str(exc))


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {_show(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _show(text) -> str:
    """User text (ids, names, files, reasons) for rich: control characters escaped, markup escaped."""
    return escape(printable(text))


@app.command()
def score(
    paths: list[Path] = typer.Argument(..., help="Audio files or folders of recordings (wav, flac, mp3, ogg, m4a)."),
    rubric: str = typer.Option("inbound_support", "--rubric", "-r", help="Rubric YAML file, or the name of a shipped rubric."),
    db: Path = DB_OPTION,
    metadata: Optional[Path] = typer.Option(None, "--metadata", "-m", help="calls.csv with file, call_id, agent, team, date, language, agent_channel."),
    model: Optional[str] = typer.Option(None, "--model", help="faster-whisper model name (small, large-v3, ...) or local model folder. Default: the shipped multilingual base model."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    language: Optional[str] = typer.Option(None, "--language", "-l", help="Language of calls without one in the metadata (default: detect)."),
    agent_channel: int = typer.Option(0, "--agent-channel", min=0, max=1, help="Channel of the agent in stereo files without one in the metadata."),
    force: bool = typer.Option(False, "--force", help="Score again calls already scored with this rubric."),
    no_redact: bool = typer.Option(False, "--no-redact", help="Keep card numbers, phone numbers, e-mails and IBANs in transcripts."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1, help="Transcription processes, each loading the model once (default: one per core, at most 8); with --executor ray, the number of Ray actors (default: as many as the cluster's free CPUs, or GPUs, hold)."),
    executor: str = typer.Option("local", "--executor", help="Where transcription runs: 'local' (processes on this machine) or 'ray' (Ray actors; needs callqa[ray])."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="With --executor ray: the Ray cluster to use (HOST:PORT of its head, or 'auto'); default: a private Ray instance on this machine."),
    diarization: str = typer.Option("offline", "--diarization", help="How mono calls are split by speaker: 'offline' (local pyannote wiring), a pyannote pipeline name such as pyannote/speaker-diarization-community-1 (token from $HF_TOKEN) or folder, or 'none'."),
    min_speakers: int = typer.Option(1, "--min-speakers", min=1, help="Fewest speakers diarization may find in a mono call."),
    max_speakers: int = typer.Option(4, "--max-speakers", min=1, help="Most speakers diarization may find in a mono call (IVR, transfers, conferences add voices)."),
    stereo: str = typer.Option("mixdown", "--stereo", help="How stereo calls are transcribed: 'mixdown' (one pass over both channels, each word given to the channel carrying it; best on real calls) or 'channels' (each channel on its own)."),
) -> None:
    """Transcribe and score recordings, storing transcripts and scorecards in the database.

    Calls already scored from the same audio with the same rubric and model are skipped, so an
    interrupted batch is finished by running the same command again."""
    from qa.inputs import InputError, find_inputs, plan_calls
    from qa.metadata import MetadataError, read_metadata
    from qa.runner import BatchRunner, BatchSettings, default_workers
    from qa.store import Store, StoreError
    from transcribe import TranscriberOptions
    from transcribe.diarizer import DiarizationOptions
    from transcribe.transcriber import STEREO_MODES
    from transcribe.errors import ModelError

    rubric_obj, rubric_text = _load_rubric(rubric)
    try:
        table = read_metadata(metadata) if metadata else None
    except MetadataError as exc:
        _fail(str(exc))
    for line in table.warnings if table is not None else []:
        _warn(line)
    found = find_inputs(paths, warn=_warn)
    if not found:
        _fail(f"no audio files found in {', '.join(map(str, paths))}")
    try:  # which row describes which file, and each file's call id: refused before anything is written
        files = plan_calls(found, table)
    except InputError as exc:
        _fail(str(exc))
    if metadata:
        _warn_metadata_mismatch(metadata, table, files)
    if min_speakers > max_speakers:
        _fail(f"--min-speakers {min_speakers} is above --max-speakers {max_speakers}")
    if stereo not in STEREO_MODES:
        _fail(f"--stereo {stereo}: unknown mode (use {' or '.join(STEREO_MODES)})")
    diarization_options = None if diarization == "none" else DiarizationOptions(
        pipeline=diarization, min_speakers=min_speakers, max_speakers=max_speakers)
    from qa.executors import ExecutorError, get_executor

    try:  # unknown or not installed: one line before anything is written
        get_executor(executor)
    except ExecutorError as exc:
        _fail(str(exc))
    if ray_address and executor != "ray":
        _fail("--ray-address needs --executor ray")
    executor_options = {"address": ray_address} if executor == "ray" else {}
    if executor != "ray":
        workers = workers or default_workers()
    settings = BatchSettings(
        transcriber=TranscriberOptions(model=model, device=device, diarization=diarization_options, stereo=stereo),
        agent_channel=agent_channel, language=language, force=force, redact=not no_redact,
    )
    try:
        with Store(db, hold=False) as store:  # given back between calls (qa serve)
            runner = BatchRunner(store, rubric_obj, rubric_text, settings, table)
            with Progress(
                TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=err, transient=False,
            ) as progress:
                task = progress.add_task("scoring", total=len(files), rate="")
                started = time.monotonic()

                def done(outcome) -> None:
                    finished = progress.tasks[0].completed + 1
                    rate = 60 * finished / max(time.monotonic() - started, 1e-6)
                    progress.update(task, advance=1, rate=f"{rate:.1f} calls/min")
                    if outcome.status == "scored":
                        progress.console.print(f"scored {_show(outcome.call_id)}: {outcome.scorecard.score:.0f}",
                                               highlight=False)
                    elif outcome.status == "skipped":
                        progress.console.print(f"skipped {_show(outcome.call_id)} ({_show(outcome.reason)})", highlight=False)
                    else:
                        progress.console.print(f"[red]failed[/] {_show(outcome.reason)}", highlight=False)

                result = runner.run(files, on_done=done, workers=workers, executor=executor,
                                    executor_options=executor_options)
    except (StoreError, ModelError, ExecutorError) as exc:
        _fail(str(exc))
    _print_summary(result, rubric_obj.id, db)
    if result.of("failed") and not result.of("scored") and not result.of("skipped"):
        raise typer.Exit(1)


def _warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {_show(message)}", highlight=False, soft_wrap=True)


def _warn_metadata_mismatch(metadata: Path, table, files: list) -> None:
    """One line each for files the metadata does not describe and rows naming no file of the batch
    (`files`: the batch's `qa.inputs.PlannedCall`s, each with the row matched to it or None)."""
    undescribed = [f.name for f in files if f.row is None]
    matched = {id(f.row) for f in files if f.row is not None}
    unknown = sorted({row.call_id or row.file for row in table.rows if id(row) not in matched})
    if undescribed:
        err.print(f"[yellow]warning:[/] {_show(metadata)}: no row for {len(undescribed)} file(s) "
                  f"({_show(', '.join(undescribed[:5]))}{', …' if len(undescribed) > 5 else ''}); "
                  "they use --language/--agent-channel and have no agent", highlight=False, soft_wrap=True)
    if unknown:
        err.print(f"[yellow]warning:[/] {_show(metadata)}: {len(unknown)} row(s) name calls not in this batch "
                  f"({_show(', '.join(unknown[:5]))}{', …' if len(unknown) > 5 else ''})",
                  highlight=False, soft_wrap=True)


def _print_summary(result, rubric_id: str, db: Path) -> None:
    table = Table(title=f"Scored with {_show(rubric_id)} -> {_show(db)}")
    for col in ("call", "agent", "lang", "score", "verdict", "note"):
        table.add_column(col)
    for o in result.outcomes:
        if o.status == "scored":
            card = o.scorecard
            verdict = "[red]AUTO-FAIL[/]" if card.auto_failed else ("[green]pass[/]" if card.passed else "[yellow]fail[/]")
            table.add_row(_show(o.call_id), _show(o.agent or ""), _show(o.language or ""), f"{card.score:.0f}", verdict,
                          _show(o.reason))
        else:
            table.add_row(_show(o.call_id), _show(o.agent or ""), "", "", o.status, _show(o.reason))
    console.print(table)
    console.print(f"{len(result.of('scored'))} scored, {len(result.of('skipped'))} skipped, "
                  f"{len(result.of('failed'))} failed (run {result.run_id})", highlight=False)


@app.command()
def report(
    db: Path = DB_OPTION,
    out: Path = typer.Option(Path("site"), "--out", "-o", help="Folder for the HTML pages."),
    rubric: Optional[str] = typer.Option(None, "--rubric", help="Rubric id or version hash prefix (default: the version used last)."),
    since: Optional[datetime] = typer.Option(None, "--since", formats=["%Y-%m-%d"], help="First call date (YYYY-MM-DD)."),
    until: Optional[datetime] = typer.Option(None, "--until", formats=["%Y-%m-%d"], help="Last call date (YYYY-MM-DD)."),
    agent: list[str] = typer.Option([], "--agent", help="Only these agents (repeatable)."),
    team: list[str] = typer.Option([], "--team", help="Only these teams (repeatable)."),
    calls: str = typer.Option("reached", "--calls", help="Which calls get a page: 'reached' (the calls the "
                              "overview and agent pages link to: each agent's latest calls, coaching evidence, "
                              "auto-fails, reviewed and queued calls) or 'all'."),
    latest: int = typer.Option(10, "--latest", min=0, help="Latest calls listed (and given pages) per agent."),
) -> None:
    """Write HTML reports: a team overview, one page per agent, and pages of the calls they link to (--calls all: every call)."""
    from reports.data import ReportError, ReportFilters
    from reports.render import render_reports

    if calls not in ("reached", "all"):
        _fail(f"--calls must be 'reached' or 'all', not '{calls}'")
    filters = ReportFilters(rubric=rubric, since=since.date() if since else None,
                            until=until.date() if until else None, agents=agent, teams=team)
    try:
        written = render_reports(db, out, filters, calls=calls, latest=latest)
    except ReportError as exc:
        _fail(str(exc))
    console.print(f"wrote {len(written)} pages; open {_show(out / 'index.html')}", highlight=False)


@app.command()
def rescore(
    rubric: str = typer.Option(..., "--rubric", "-r", help="Rubric YAML file, or the name of a shipped rubric."),
    db: Path = DB_OPTION,
    force: bool = typer.Option(False, "--force", help="Score again calls already scored with this rubric version."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1, help="Processes that score (default: one per core, up to 8, from 500 calls; 1 scores in this process)."),
) -> None:
    """Score stored transcripts again with a rubric (no audio is touched): reads each call's
    stored text analysis and sentences, so no text is analysed again."""
    from qa.rescore import rescore as rescore_calls
    from qa.store import Store, StoreError

    rubric_obj, text = _load_rubric(rubric)
    if not db.is_file():
        _fail(f"{db}: database not found (score some calls first with `qa score`)")
    try:
        with Store(db, hold=False) as store, Progress(TextColumn("rescoring"), BarColumn(), MofNCompleteColumn(),
                                          TimeElapsedColumn(), console=err) as progress:
            task = progress.add_task("rescore", total=None)
            result = rescore_calls(store, rubric_obj, text, force, workers=workers,
                                   on_progress=lambda done, total: progress.update(task, completed=done, total=total))
    except StoreError as exc:
        _fail(str(exc))
    console.print(f"{result.scored} calls scored with {_show(rubric_obj.id)} version {rubric_obj.content_hash[:8]}, "
                  f"{result.skipped} already scored with it"
                  + (f", {result.failed} failed (see `qa failures`)" if result.failed else ""), highlight=False)


@app.command("import")
def import_(
    files: list[Path] = typer.Argument(..., help="Transcript files in a registered import format (shipped: our JSON format, WebVTT, Harper Valley JSON)."),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto (detected per file) or a registered import format (shipped: json, vtt, harper-valley)."),
    rubric: str = typer.Option("inbound_support", "--rubric", "-r", help="Rubric YAML file, or the name of a shipped rubric."),
    db: Path = DB_OPTION,
    language: Optional[str] = typer.Option(None, "--language", "-l", help="Language of transcripts that do not state one."),
    agent_speaker: list[str] = typer.Option([], "--agent-speaker", help="WebVTT speaker name(s) that are the agent."),
    no_redact: bool = typer.Option(False, "--no-redact", help="Keep card numbers, phone numbers, e-mails and IBANs."),
) -> None:
    """Import existing transcripts (no audio) and score them like our own: speakers without
    agent/customer roles get them decided as in a mono recording."""
    from qa.importer import ImportRefused, import_transcripts
    from qa.store import Store, StoreError
    from transcribe.importers import import_format_names

    if fmt != "auto" and fmt not in import_format_names():
        _fail(f"--format {fmt}: unknown import format (auto, {', '.join(import_format_names())})")
    rubric_obj, text = _load_rubric(rubric)
    try:
        with Store(db, hold=False) as store:
            outcomes = import_transcripts(store, rubric_obj, text, files, fmt, language, set(agent_speaker),
                                          redact_personal_data=not no_redact)
    except (StoreError, ImportRefused) as exc:
        _fail(str(exc))
    table = Table(title=f"Imported and scored with {_show(rubric_obj.id)} -> {_show(db)}")
    for col in ("call", "agent", "score", "verdict", "note"):
        table.add_column(col)
    for o in outcomes:
        verdict = "" if o.scorecard is None else ("[red]AUTO-FAIL[/]" if o.scorecard.auto_failed else
                                                 "[green]pass[/]" if o.scorecard.passed else "[yellow]fail[/]")
        table.add_row(_show(o.call_id), _show(o.agent or ""), f"{o.scorecard.score:.0f}" if o.scorecard else "",
                      verdict or o.status, _show(o.reason))
    console.print(table)
    if outcomes and all(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)


@app.command()
def export(
    call: Optional[str] = typer.Argument(None, help="A call id: export that call's speakers and words (rttm, srt or json) instead of the tables."),
    db: Path = DB_OPTION,
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="Tables: csv (default), parquet or json. One call: json (default), rttm or srt."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Tables: folder for scorecards.* and criterion_results.* (default ./export). One call: file (default: print)."),
) -> None:
    """Export scorecards and criterion results for BI tools, or one call as RTTM, SRT or JSON."""
    if call is not None:
        _export_call(call, db, fmt or "json", out)
        return
    from qa.export import ExportError, export_tables

    try:
        written = export_tables(db, out or Path("export"), fmt or "csv")
    except ExportError as exc:
        _fail(str(exc))
    for path in written:
        console.print(f"wrote {_show(path)}", highlight=False)


def _export_call(call: str, db: Path, fmt: str, out: Optional[Path]) -> None:
    from qa.call_export import CALL_FORMATS, export_call
    from qa.store import Store, StoreError

    if fmt not in CALL_FORMATS:
        _fail(f"unknown format '{fmt}' for one call ({', '.join(CALL_FORMATS)})")
    try:
        with Store(db, read_only=True) as store:
            found = store.load_transcripts([call])
    except StoreError as exc:
        _fail(str(exc))
    if not found:
        _fail(f"{db}: no call '{call}'")
    text = export_call(*found[0], fmt)
    if out is None:
        # The document itself when piped; on a terminal, control characters in ids and text escaped.
        sys.stdout.write(printable(text, multiline=True) if sys.stdout.isatty() else text)
        return
    if out.is_dir():
        _fail(f"{out}: is a folder; give a file name to --out for one call")
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"{out}: cannot write ({exc.strerror or exc})")
    console.print(f"wrote {_show(out)}", highlight=False)


@app.command()
def enrol(
    agent: str = typer.Argument(..., help="Agent id, as in the metadata's agent column."),
    audio: Path = typer.Argument(..., help="A short recording of the agent alone (10-60 s is plenty)."),
    db: Path = DB_OPTION,
) -> None:
    """Store an agent's voiceprint: mono calls of this agent then find the agent by voice."""
    from qa.store import Store, StoreError
    from transcribe.audio import load_audio
    from transcribe.errors import AudioError, ModelError

    try:
        decoded = load_audio(audio)
        samples = decoded.channels[0]
        from transcribe.diarization_models import SpeakerEmbedder

        embedding = SpeakerEmbedder().embed(samples)
    except (AudioError, ModelError) as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(f"{audio}: {exc}")
    seconds = len(samples) / 16_000
    try:
        with Store(db) as store:
            store.save_voiceprint(agent, embedding.tolist(), str(audio), round(seconds, 2))
    except StoreError as exc:
        _fail(str(exc))
    console.print(f"enrolled {_show(agent)} from {_show(audio)} ({seconds:.1f} s)", highlight=False)


@app.command()
def forget(
    call: list[str] = typer.Option([], "--call", help="Call id to delete (repeatable)."),
    agent: list[str] = typer.Option([], "--agent", help="Delete every call of this agent, its failures and its voiceprint (repeatable)."),
    db: Path = DB_OPTION,
    out: Path = typer.Option(Path("site"), "--out", "-o", help="Report folder written by `qa report`: written again without what was forgotten."),
) -> None:
    """Delete every row that names a call or an agent (transcripts, speaker spans, scores, evidence,
    failures, the agent's voiceprint), rewrite the database file so the deleted text is gone from
    the disk, write the report in --out again without them, and say what was removed."""
    from qa.store import Store, StoreError

    if not call and not agent:
        _fail("give --call ID or --agent ID")
    if not db.is_file():
        _fail(f"{db}: database not found")
    try:
        with Store(db) as store:
            forgotten = store.forget(call, agent)
    except StoreError as exc:
        _fail(str(exc))
    if not forgotten.total:
        _fail(f"{db}: no call matches {', '.join(call + agent)}")
    console.print(f"removed {len(forgotten.call_ids)} call(s): {', '.join(_show(i) for i in forgotten.call_ids)}",
                  highlight=False, soft_wrap=True)
    console.print("rows deleted: " + ", ".join(f"{t} {n}" for t, n in forgotten.rows.items()),
                  highlight=False, soft_wrap=True)
    console.print(f"{_show(db)} rewritten: the deleted text is no longer in the file",
                  highlight=False, soft_wrap=True)
    _rerender_after_forget(db, out)


def _rerender_after_forget(db: Path, out: Path) -> None:
    """Write the report folder again so pages of forgotten calls and agents disappear."""
    if not out.exists():
        return
    from reports.data import ReportError

    try:
        from reports.render import rerender
    except ImportError:  # a reports package without re-rendering: say what is left to do
        _fail(f"{out}: report pages may still show what was forgotten; run `qa report --out {out}` again")
    try:
        pages = rerender(db, out)
    except (ReportError, OSError) as exc:
        _fail(f"{exc} (the data is forgotten, but the report in {out} still shows it: "
              f"run `qa report --out {out}` again)")
    if pages is None:
        console.print(f"{_show(out)} is not a report folder written by `qa report`: left as it is",
                      highlight=False, soft_wrap=True)
    else:
        console.print(f"report in {_show(out)} written again without it ({len(pages)} pages)",
                      highlight=False, soft_wrap=True)


@app.command()
def failures(db: Path = DB_OPTION) -> None:
    """List files that could not be processed, with the reason, and runs that did not finish."""
    from qa.store import Store, StoreError

    try:
        with Store(db, read_only=True) as store:
            rows = store.failures()
            runs = store.unfinished_runs()
    except StoreError as exc:
        _fail(str(exc))
    table = Table(title="Failed files")
    for col in ("file", "reason", "when"):
        table.add_column(col)
    for row in rows:
        table.add_row(_show(row["file"]), _show(row["reason"]), str(row["failed_at"])[:19])
    console.print(table if rows else "no failures recorded")
    for run in runs:
        how = "interrupted (stopped before it finished)" if run["status"] == "interrupted" else "stopped by an error"
        console.print(f"run {_show(run['run_id'])} started {str(run['started_at'])[:19]}: {how} after "
                      f"{run['scored'] or 0} scored and {run['failed'] or 0} failed of {run['files']} file(s); "
                      "run the same command again to finish it", highlight=False, soft_wrap=True)


if __name__ == "__main__":
    app()
