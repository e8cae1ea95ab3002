"""`qa eval ...`: measure the pipeline against reference annotations."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

eval_app = typer.Typer(help="Measure the pipeline against reference annotations.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


@eval_app.command("diarization")
def diarization(
    reference: Path = typer.Argument(..., help="Reference RTTM of the recording."),
    audio: Path = typer.Argument(..., help="The recording (any format the pipeline reads)."),
    collar: float = typer.Option(0.0, "--collar", min=0.0, help="Seconds around reference boundaries left out (pyannote.metrics: the total width, half each side)."),
    skip_overlap: bool = typer.Option(False, "--skip-overlap", help="Leave out regions where reference speakers overlap."),
    pipeline: str = typer.Option("offline", "--diarization", help="'offline' or a pyannote pipeline name or folder."),
    min_speakers: int = typer.Option(1, "--min-speakers", min=1),
    max_speakers: int = typer.Option(4, "--max-speakers", min=1),
) -> None:
    """Print the diarization error rate (DER) with missed speech, false alarm and confusion."""
    from qa.diarization_eval import EvaluationError, evaluate
    from transcribe.diarizer import DiarizationOptions
    from transcribe.errors import ModelError

    for path in (reference, audio):
        if not path.is_file():
            _fail(f"{path}: file not found")
    try:
        options = DiarizationOptions(pipeline=pipeline, min_speakers=min_speakers, max_speakers=max_speakers)
        result = evaluate(reference, audio, options, collar=collar, skip_overlap=skip_overlap)
    except (EvaluationError, ModelError, ValueError) as exc:
        _fail(str(exc))
    console.print(
        f"{escape(audio.name)}: DER {result.der:.3f} (missed {result.missed:.3f}, false alarm "
        f"{result.false_alarm:.3f}, confusion {result.confusion:.3f}), collar {collar:g}; speakers "
        f"{result.found_speakers} found / {result.reference_speakers} in reference; "
        f"{result.reference_speech_s:.1f} s of reference speech; diarized in {result.seconds:.1f} s",
        highlight=False, soft_wrap=True,
    )


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)
