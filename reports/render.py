"""Write the HTML report folder (Jinja2, autoescaped) from the database: the pages of every page
kind registered in reports/pages, written beside --out and swapped in whole, with a manifest that
names the filters and pages so `rerender` can write it again."""
from __future__ import annotations

import json
import os
import posixpath
import re
import secrets
import shutil
from datetime import date
from pathlib import Path

from jinja2 import Environment, PackageLoader

from reports.data import ReportError, ReportFilters, open_report, page_slug
from reports.formatting import clock, finite, measure, number, percent
from reports.pages import CALL_PAGES, LATEST_CALLS, Site, linker, page_folders, registered_pages

MANIFEST = ".callqa-report.json"
# Files an operating system drops into folders it shows; they do not make a folder someone else's.
OS_LITTER = {".DS_Store", "Thumbs.db", "desktop.ini"}


def environment() -> Environment:
    env = Environment(loader=PackageLoader("reports", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["clock"] = clock
    env.filters["percent"] = percent
    env.filters["slug"] = page_slug
    env.filters["number"] = number
    env.filters["measure"] = measure
    env.tests["finite"] = finite
    return env


def _write_pages(site: Site, folder: Path) -> list[str]:
    """Write the pages of every registered page kind (reports/pages) of `site` into `folder`;
    return their names relative to it."""
    env = environment()
    written: list[str] = []
    seen: set[str] = set()
    pages = registered_pages()
    for name in sorted({p.folder for p in pages if p.folder}):
        (folder / name).mkdir(parents=True, exist_ok=True)
    for page in pages:
        template = env.get_template(page.template)
        for key in page.pages(site):
            name = page.file(key)
            if name.lower() in seen:  # two ids with one page name: never overwrite a page silently
                raise ReportError(f"{name}: two agents or calls share this page name")
            html = template.render(page.context(site, key), link=linker(page, key), has_page=site.has_page)
            (folder / name).write_text(html, encoding="utf-8")
            written.append(name)
            seen.add(name.lower())
    return written


# --- the report folder: written beside --out, then swapped in ---------------------------------

def _filters_to_json(filters: ReportFilters) -> dict:
    return {"rubric": filters.rubric, "since": filters.since and filters.since.isoformat(),
            "until": filters.until and filters.until.isoformat(),
            "agents": list(filters.agents), "teams": list(filters.teams)}


def _filters_from_json(value) -> ReportFilters | None:
    def day(text) -> date | None:
        return None if text is None else date.fromisoformat(text)

    try:
        filters = ReportFilters(rubric=value["rubric"], since=day(value["since"]), until=day(value["until"]),
                                agents=list(value["agents"]), teams=list(value["teams"]))
    except (KeyError, TypeError, ValueError):
        return None
    texts = [t for t in [filters.rubric] if t is not None] + filters.agents + filters.teams
    return filters if all(isinstance(t, str) for t in texts) else None


def read_manifest(folder: str | Path) -> dict | None:
    """The manifest `qa report` leaves in a folder it wrote (filters and pages), or None."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if (not isinstance(manifest, dict) or manifest.get("tool") != "callqa report"
            or not isinstance(manifest.get("pages"), list) or not all(isinstance(p, str) for p in manifest["pages"])
            or _filters_from_json(manifest.get("filters")) is None):
        return None
    return manifest


def _is_legacy_report(names: list[str]) -> bool:
    """A folder written before reports had a manifest: index.html, agents/*.html, calls/*.html only."""
    return {"index.html", "agents/", "calls/"} <= set(names) and all(
        n in ("index.html", "agents/", "calls/") or re.fullmatch(r"(agents|calls)/[^/]+\.html", n) for n in names)


def _folders(names: list[str]) -> set[str]:
    """Every folder the files `names` are in, with the folders above them ("a/", "a/b/")."""
    found = set()
    for name in names:
        parent = posixpath.dirname(name)
        while parent:
            found.add(parent + "/")
            parent = posixpath.dirname(parent)
    return found


def _foreign(folder: Path) -> list[str]:
    """Names under an existing folder that no report of ours wrote (empty: the folder may be replaced)."""
    names = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        names += [(rel / d).as_posix() + "/" for d in dirs]
        names += [(rel / f).as_posix() for f in files if f not in OS_LITTER]
    manifest = read_manifest(folder)
    if manifest is None:
        return [] if not names or _is_legacy_report(names) else sorted(names)
    known = {MANIFEST, *_folders([f + "/x" for f in page_folders()] + manifest["pages"]), *manifest["pages"]}
    return sorted(n for n in names if n not in known)


def _check_target(out: Path, shown: Path) -> None:
    """Refuse, with one line, an --out that is a file or a folder holding files we did not write."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ReportError(f"{shown}: exists and is not a folder (choose another --out)")
    if out.is_dir():
        try:
            foreign = _foreign(out)
        except OSError as exc:
            raise ReportError(f"{shown}: cannot read the folder ({exc.strerror or exc})") from None
        if foreign:
            listed = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
            raise ReportError(f"{shown}: folder holds files that are not part of a qa report ({listed}); "
                              "choose another --out, or move them")


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # cannot tell cheaply: keep the folder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove_leftovers(out: Path) -> None:
    """Staging and old folders of reports that were killed before they finished."""
    pattern = re.compile(re.escape(f".{out.name}.callqa-") + r"(?:old-)?(\d+)-[0-9a-f]{8}")
    try:
        siblings = list(out.parent.iterdir())
    except OSError:
        return
    for path in siblings:
        match = pattern.fullmatch(path.name)
        if match and path.is_dir() and not path.is_symlink() and not _pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def _sibling(out: Path, kind: str) -> Path:
    return out.parent / f".{out.name}.callqa-{kind}{os.getpid()}-{secrets.token_hex(4)}"


def _swap(staging: Path, out: Path) -> None:
    """Put the finished folder in place of `out`; the old report is removed only once the new one is there."""
    if not out.exists():
        os.rename(staging, out)
        return
    old = _sibling(out, "old-")
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def render_reports(db: str | Path, out: str | Path, filters: ReportFilters | None = None,
                   missing_rubric_ok: bool = False, calls: str = "reached", latest: int = LATEST_CALLS) -> list[Path]:
    """Write the report site as `out`: the pages of every registered page kind (reports/pages:
    index.html, agents/<agent>.html, calls/<call>.html, ...) and the manifest .callqa-report.json
    (filters and pages); return the paths of the pages.

    `calls`: "reached" writes a page for the calls the other pages link to (each agent's `latest`
    calls, calls quoted as coaching evidence, the latest auto-failed calls of each agent, the
    team's latest calls, calls reviewed or queued for review: see `reports.pages.Site`); "all"
    for every call. Figures over all calls are aggregated in DuckDB; call details are read only
    for the calls that get a page, a chunk at a time.

    The site is written into a new folder beside `out` and then swapped in, so an interrupted
    report leaves the previous one intact and pages of calls no longer reported disappear.
    An `out` that is a file, or a folder holding files no report of ours wrote, is refused."""
    filters = filters or ReportFilters()
    shown = Path(out)
    out = Path(os.path.realpath(shown))  # a link to a folder: the folder it points to is replaced
    if out.parent == out:
        raise ReportError(f"{shown}: cannot be the report folder (choose another --out)")
    if calls not in CALL_PAGES:
        raise ReportError(f"--calls must be one of {', '.join(CALL_PAGES)}, not '{calls}'")
    _check_target(out, shown)
    with open_report(db, filters, missing_rubric_ok) as source:
        return _render(source, filters, out, shown, calls, latest)


def _render(source, filters: ReportFilters, out: Path, shown: Path, calls: str, latest: int) -> list[Path]:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"{shown}: cannot create the folder ({exc.strerror or exc})") from None
    _remove_leftovers(out)
    staging = _sibling(out, "")
    try:
        staging.mkdir()
        pages = _write_pages(Site(source, filters, staging, calls=calls, latest=latest), staging)
        manifest = {"tool": "callqa report", "version": 1, "filters": _filters_to_json(filters), "pages": pages,
                    "calls": calls, "latest": latest}
        (staging / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        _check_target(out, shown)  # again: another program may have written there meanwhile
        _swap(staging, out)
    except OSError as exc:
        raise ReportError(f"{shown}: cannot write the report ({exc.strerror or exc})") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return [shown / name for name in pages]


def rerender(db: Path, out: Path) -> list[Path] | None:
    """Render the report folder `out` again from `db` with the filters recorded in its manifest,
    so pages of calls and agents no longer in the database disappear; return the pages, or None
    when `out` is not a report folder written by `qa report`. Raises ReportError (one line) when
    the database cannot be read or the folder now holds files that are not ours."""
    manifest = read_manifest(out) if Path(out).is_dir() else None
    if manifest is None:
        return None
    calls = manifest.get("calls") if manifest.get("calls") in CALL_PAGES else "reached"
    latest = manifest.get("latest")
    latest = latest if isinstance(latest, int) and not isinstance(latest, bool) and latest >= 0 else LATEST_CALLS
    return render_reports(db, out, _filters_from_json(manifest["filters"]), missing_rubric_ok=True,
                          calls=calls, latest=latest)


__all__ = ["render_reports", "rerender", "read_manifest", "ReportFilters", "MANIFEST"]
