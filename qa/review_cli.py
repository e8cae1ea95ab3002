"""`qa sample`, `qa calibrate` and `qa review import`: the review workflow on the command line,
through `qa.reviews.Reviews` (the workbench `qa serve` is the other way in)."""
from __future__ import annotations

import csv
import io
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qa.calibration import CATEGORIES, GATE_AC1, MIN_N, Agreement
from qa.terminal import printable

review_app = typer.Typer(help="Record human reviews: import existing evaluations.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

DB_OPTION = typer.Option(Path("qa.duckdb"), "--db", help="DuckDB file holding calls and scores.")
RUBRIC_OPTION = typer.Option(None, "--rubric", help="Rubric id or version hash prefix (default: the version used last).")
MIN_N_OPTION = typer.Option(MIN_N, "--min-n", min=1, help="Pairs of answers a criterion needs before its agreement is trusted.")
GATE_OPTION = typer.Option(GATE_AC1, "--gate", min=0.0, max=1.0, help="AC1 below which a criterion needs human review.")


def register(app: typer.Typer) -> None:
    """Add `sample`, `calibrate` and the `review` group to the `qa` app."""
    app.command()(sample)
    app.command()(calibrate)
    app.add_typer(review_app, name="review")


def _show(text) -> str:
    """User text for rich: control characters and markup escaped."""
    return escape(printable(text))


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {_show(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _open(db: Path, read_only: bool = False):
    """The store of an existing database file (one error line when it is missing or unreadable)."""
    from qa.store import Store, StoreError

    if not db.is_file():
        _fail(f"{db}: database not found (score some calls first with `qa score`)")
    try:
        store = Store(db, read_only=True) if read_only else Store(db, hold=False)
    except StoreError as exc:
        _fail(str(exc))
    with store:
        yield store


def _version(store, db: Path, rubric: str | None) -> str:
    """The hash of the rubric version named by id or hash prefix (the version used last when None)."""
    found = store.rubric_version(rubric)
    if found is None:
        _fail(f"{db}: no scorecards for rubric '{rubric}'" if rubric else f"{db}: no scored calls")
    return found["rubric_hash"]


def sample(
    per_agent: int = typer.Option(..., "--per-agent", min=1, help="Calls to pick per agent per period."),
    db: Path = DB_OPTION,
    rubric: Optional[str] = RUBRIC_OPTION,
    period: str = typer.Option("week", "--period", help="day, week or month."),
    seed: int = typer.Option(0, "--seed", help="The same seed and calls give the same picks."),
    min_n: int = MIN_N_OPTION,
    gate: float = GATE_OPTION,
) -> None:
    """Pick calls for human review and add them to the review queue.

    Per agent and period, calls not yet reviewed, auto-fails first, then scores near the pass mark, then calls deciding a
    criterion below the calibration gate, then the rest (reproducible with --seed)."""
    from qa.reviews import Reviews
    from qa.sampling import PERIODS
    from qa.store import StoreError

    if period not in PERIODS:
        _fail(f"--period {period}: use one of {', '.join(PERIODS)}")
    with _open(db) as store:
        version = _version(store, db, rubric)
        reviews = Reviews(store)
        try:
            uncertain = set(reviews.calibration(version, min_n=min_n, gate_ac1=gate).flagged)
            picks = reviews.sample(version, per_agent=per_agent, period=period, seed=seed, uncertain=uncertain)
        except StoreError as exc:
            _fail(str(exc))
    table = Table(title=f"Calls to review (rubric version {version[:8]}, seed {seed})")
    for column in ("call", "agent", "period", "reason"):
        table.add_column(column)
    for pick in picks:
        table.add_row(_show(pick.call_id), _show(pick.agent or ""), pick.period, _show(pick.reason))
    if picks:
        console.print(table)
    console.print(f"{len(picks)} call(s) picked and queued for review", highlight=False)


def calibrate(
    db: Path = DB_OPTION,
    rubric: Optional[str] = RUBRIC_OPTION,
    min_n: int = MIN_N_OPTION,
    gate: float = GATE_OPTION,
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
) -> None:
    """Agreement of the machine with reviewers, and of reviewers with each other, per criterion.

    Pairs, raw agreement, Cohen's kappa, Gwet's AC1, answer shares and counts; criteria with fewer
    than --min-n pairs or AC1 below --gate need human review."""
    from qa.reviews import Reviews

    if fmt not in ("table", "csv", "json"):
        _fail(f"--format {fmt}: use table, csv or json")
    with _open(db, read_only=True) as store:
        version = _version(store, db, rubric)
        result = Reviews(store).calibration(version, min_n=min_n, gate_ac1=gate)
        names = {cid: row["name"] or cid for cid, row in store.criteria(version).items()}
    rows = [_row(cid, name, result.machine.get(cid), result.humans.get(cid), result.flagged.get(cid))
            for cid, name in names.items()]
    if fmt == "json":
        print(json.dumps({"rubric_hash": version, "min_n": min_n, "gate_ac1": gate, "criteria": rows},
                         ensure_ascii=False, indent=1))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(_flat(rows[0]) if rows else ["criterion_id"]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(_flat(r) for r in rows)
        print(out.getvalue(), end="")
    else:
        _print_table(rows, version, min_n, gate)


def _row(cid: str, name: str, machine: Agreement | None, humans: Agreement | None, flagged: str | None) -> dict:
    """One criterion's figures; raw, kappa and AC1 are None below min n (and kappa where undefined)."""
    def figures(a: Agreement | None) -> dict:
        a = a or _empty()
        trusted = a.enough and a.n > 0
        return {"n": a.n, "enough": a.enough, "raw": a.raw if trusted else None,
                "kappa": a.kappa if trusted else None, "ac1": a.ac1 if trusted else None,
                "prevalence": a.prevalence, "confusion": {f"{x}/{y}": k for (x, y), k in a.confusion.items()}}

    return {"criterion_id": cid, "name": name, "needs_review": flagged, "machine": figures(machine),
            "humans": figures(humans)}


def _empty() -> Agreement:
    from qa.calibration import agreement

    return agreement([])


def _flat(row: dict) -> dict:
    """A criterion's row as CSV columns (machine_* for machine vs human, humans_* for reviewer pairs)."""
    flat = {"criterion_id": row["criterion_id"], "name": row["name"], "needs_review": row["needs_review"] or ""}
    for who in ("machine", "humans"):
        f = row[who]
        flat |= {f"{who}_{k}": "" if f[k] is None else f[k] for k in ("n", "raw", "kappa", "ac1")}
        flat |= {f"{who}_share_{c}": f["prevalence"][c] for c in CATEGORIES}
        if who == "machine":
            flat |= {f"machine_{pair.replace('/', '_human_')}": k for pair, k in f["confusion"].items()}
    return flat


def _print_table(rows: list[dict], version: str, min_n: int, gate: float) -> None:
    table = Table(title=f"Machine vs reviewers, rubric version {version[:8]} "
                        f"(gate: AC1 {gate:g}, at least {min_n} pairs)")
    for column in ("criterion", "n", "raw", "kappa", "AC1", "shares (pass/fail/na)",
                   "machine→human (agree; pass→fail, fail→pass, other)", "reviewer pairs", "status"):
        table.add_column(column)
    for row in rows:
        m, h = row["machine"], row["humans"]
        c = m["confusion"]
        agree = sum(c[f"{x}/{x}"] for x in CATEGORIES)
        other = m["n"] - agree - c["pass/fail"] - c["fail/pass"]
        table.add_row(
            _show(row["name"] if row["name"] == row["criterion_id"] else f"{row['name']} ({row['criterion_id']})"),
            str(m["n"]), *_figures(m, min_n),
            "/".join(f"{m['prevalence'][x]:.2f}" for x in CATEGORIES),
            f"{agree}; {c['pass/fail']}, {c['fail/pass']}, {other}",
            f"{h['n']}: " + ("raw {} kappa {} AC1 {}".format(*_figures(h, min_n)) if h["raw"] is not None
                             else f"n < {min_n}"),
            f"[red]needs human review[/] ({_show(row['needs_review'])})" if row["needs_review"] else "[green]ok[/]",
        )
    console.print(table)


def _figures(f: dict, min_n: int) -> tuple[str, str, str]:
    """raw, kappa and AC1 as shown: "n < MIN" below min n, "undefined" for an undefined kappa."""
    if f["raw"] is None:
        return (f"n < {min_n}",) * 3
    return (f"{f['raw']:.2f}", "undefined" if f["kappa"] is None else f"{f['kappa']:.2f}", f"{f['ac1']:.2f}")


@review_app.command("import")
def import_(
    file: Path = typer.Argument(..., help="CSV of existing evaluations: call id, criterion, outcome, evaluator[, date, comment]."),
    db: Path = DB_OPTION,
) -> None:
    """Record existing human evaluations as reviews.

    Rows naming a call that is not scored, or a criterion its rubric lacks, are skipped and
    listed; a faulty file stores nothing."""
    from qa.human_evals import HumanEvalError, read_human_evals
    from qa.reviews import ReviewError, Reviews
    from qa.store import StoreError

    if not file.is_file():
        _fail(f"{file}: file not found", 1)
    try:
        evaluations = read_human_evals(file)
    except HumanEvalError as exc:
        _fail(str(exc), 1)
    with _open(db) as store:
        try:
            recorded, skipped = Reviews(store).import_evaluations(evaluations)
        except (ReviewError, StoreError) as exc:
            _fail(f"{file}: {exc}", 1)
    for line in skipped:
        console.print(f"skipped {_show(line)}", highlight=False, soft_wrap=True)
    console.print(f"{recorded} evaluation(s) recorded, {len(skipped)} skipped", highlight=False)
