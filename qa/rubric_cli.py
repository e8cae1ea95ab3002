"""`qa rubric ...`: the trainer's workflow — lint, test, schema, explain."""
from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

rubric_app = typer.Typer(help="Write and check rubrics: lint, test, schema, explain.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def _resolve(file: str):
    from rubrics import rubric_path

    return rubric_path(file)


@rubric_app.command()
def lint(files: list[str] = typer.Argument(..., help="Rubric YAML files (or shipped rubric names).")) -> None:
    """Check rubrics for schema and semantic errors; print every fault with its line, then warnings
    (phrase sets missing a declared language or never used, sections of only bonus criteria)."""
    from scoring import RubricError, load_rubric
    from scoring.rubric_loader import lint_warnings

    failed = False
    for file in files:
        path = _resolve(file)
        try:
            rubric, text = load_rubric(path)
        except RubricError as exc:
            failed = True
            for problem in exc.problems:
                err.print(f"[red]error[/] {escape(problem)}", highlight=False, soft_wrap=True)
            continue
        warnings = lint_warnings(rubric, text, str(path)) + _fit_warnings(rubric, text, path)
        for warning in warnings:
            err.print(f"[yellow]warning[/] {escape(warning)}", highlight=False, soft_wrap=True)
        console.print(f"{escape(str(path))}: ok ({sum(1 for _ in rubric.criteria())} criteria, {len(warnings)} warnings)",
                      highlight=False)
    if failed:
        raise typer.Exit(1)


def _fit_warnings(rubric, text: str, path) -> list[str]:
    """Lint lines for meaning checks: too few test cases to fit, threshold not fitted, stale fit."""
    from scoring.meaning_fit import fit_warnings
    from scoring.rubric_loader import _locate, read_yaml
    from scoring.rubric_tests import RubricTestError, load_cases, tests_path_for

    tests = tests_path_for(path)
    try:
        cases = load_cases(tests) if tests.exists() else None
    except RubricTestError as exc:
        return [f"{exc} (meaning checks not compared with the test cases)"]
    tree = read_yaml(text, str(path), ValueError)
    return [f"{path}:{_locate(tree, where)[1]}: {warning}" for where, warning in fit_warnings(rubric, cases)]


@rubric_app.command("test")
def test_(files: list[str] = typer.Argument(..., help="Rubric YAML files; cases are read from NAME.tests.yaml beside each.")) -> None:
    """Run the test cases kept beside each rubric (outcome per criterion; auto-fail, score, band and
    flags where a case gives them) and report pass/fail per case, with one line per difference."""
    from scoring import RubricError, load_rubric
    from scoring.rubric_tests import RubricTestError, load_cases, run_cases, tests_path_for

    failures = 0
    for file in files:
        path = _resolve(file)
        try:
            rubric, _ = load_rubric(path)
            cases = load_cases(tests_path_for(path))
        except (RubricError, RubricTestError) as exc:
            err.print(f"[red]error[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            failures += 1
            continue
        results = run_cases(rubric, cases)
        for result in results:
            mark = "[green]ok[/]  " if result.ok else "[red]FAIL[/]"
            console.print(f"{mark} {escape(path.name)} {escape(f'[{result.language}]')} {escape(result.name)}",
                          highlight=False)
            for mismatch in result.mismatches:
                console.print(f"       {escape(mismatch)}", highlight=False)
        bad = sum(not r.ok for r in results)
        failures += bad
        console.print(f"{escape(path.name)}: {len(results) - bad} passed, {bad} failed", highlight=False)
    if failures:
        raise typer.Exit(1)


@rubric_app.command()
def fit(
    file: str = typer.Argument(..., help="Rubric YAML file; cases are read from NAME.tests.yaml beside it."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the fitted thresholds without writing them."),
    min_cases: int = typer.Option(3, min=1, help="Test cases each side (pass, fail) a threshold needs."),
) -> None:
    """Fit each meaning check's threshold from the rubric's test cases and write it into the rubric
    (with a `fitted:` record that `qa rubric explain` and `qa rubric lint` read)."""
    from scoring import RubricError, load_rubric, parse_rubric
    from scoring.meaning_fit import fit_thresholds, write_fits
    from scoring.rubric_tests import RubricTestError, load_cases, tests_path_for

    path = _resolve(file)
    try:
        rubric, text = load_rubric(path)
        cases = load_cases(tests_path_for(path))
    except (RubricError, RubricTestError) as exc:
        err.print(f"[red]error[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    fits = fit_thresholds(rubric, cases, min_cases=min_cases)
    if not fits:
        console.print(f"{escape(path.name)}: no meaning checks to fit", highlight=False, soft_wrap=True)
        return
    for f in fits:
        head = f"{escape(f.site.criterion.id)} ({escape(f.site.where)})"
        if f.threshold is None:
            console.print(f"[yellow]not fitted[/] {head}: {escape(f.reason)}; threshold stays {f.old_threshold:g}",
                          highlight=False, soft_wrap=True)
            continue
        console.print(f"[green]fitted[/] {head}: threshold {f.old_threshold:g} -> {f.threshold:g} "
                      f"(between {f.between[0]:.3f} and {f.between[1]:.3f}); {f.right}/{f.cases} cases right "
                      f"({f.passing} pass, {f.failing} fail; {', '.join(f.languages)})", highlight=False, soft_wrap=True)
        for name in f.wrong:
            console.print(f"       still wrong: {escape(name)}", highlight=False, soft_wrap=True)
    fitted = [f for f in fits if f.threshold is not None]
    if dry_run or not fitted:
        return
    new_text = write_fits(text, fitted)
    parse_rubric(new_text, str(path))  # never write a rubric that does not load
    tmp = path.with_name(f".{path.name}.fit.tmp")
    tmp.write_text(new_text, encoding="utf-8")
    tmp.replace(path)
    console.print(f"{escape(str(path))}: {len(fitted)} threshold(s) written", highlight=False, soft_wrap=True)


@rubric_app.command()
def schema() -> None:
    """Print the rubric JSON Schema (for editor completion and validation)."""
    from scoring.rubric import Rubric

    print(json.dumps(Rubric.model_json_schema(), indent=2, ensure_ascii=False))


@rubric_app.command()
def explain(file: str = typer.Argument(..., help="Rubric YAML file or shipped rubric name.")) -> None:
    """Print the rubric as a readable scorecard (every text from the YAML is printed literally)."""
    from scoring import RubricError, load_rubric

    try:
        rubric, _ = load_rubric(_resolve(file))
    except RubricError as exc:
        err.print(f"[red]error[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    console.print(f"[bold]{escape(rubric.name)}[/] ({escape(rubric.id)}, version {rubric.content_hash[:8]}) "
                  f"— pass mark {rubric.pass_mark:g}", highlight=False)
    if rubric.description:
        console.print(escape(rubric.description), highlight=False)
    if rubric.bands:
        console.print("Bands: " + ", ".join(f"{escape(b.label)} ≥ {b.min:g}"
                                            for b in sorted(rubric.bands, key=lambda b: -b.min)), highlight=False)
    total_weight = sum(s.effective_weight for s in rubric.sections) or 1
    for section in rubric.sections:
        table = Table(title=f"{escape(section.title)} — weight {section.effective_weight:g} "
                            f"({100 * section.effective_weight / total_weight:.0f}%)", title_justify="left",
                      show_lines=False, expand=True)
        table.add_column("criterion", ratio=2)
        table.add_column("points", justify="right")
        table.add_column("passes when", ratio=4)
        table.add_column("applies", ratio=2)
        for c in section.criteria:
            name = escape(c.title) + (" [red](auto-fail)[/]" if c.critical == "auto_fail" else
                              " [yellow](flag)[/]" if c.critical == "flag" else "") + (" [cyan](bonus)[/]" if c.bonus else "")
            table.add_row(name, f"{c.points:g}", escape(c.check.describe()),
                          escape(c.applies_when.describe()) if c.applies_when else "always")
        console.print(table)
