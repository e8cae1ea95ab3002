"""Report pages, each one definition found through a registry.

A page kind is one function registered with `@report_page`. The decorator says which template
renders it (in reports/templates), which files it writes (a pattern relative to the report
folder; "{slug}" stands for the page name of a key, see `page_slug`), which keys it writes a page
for (a function of the `Site`; none: a single page), which page kinds its pages link to, and
where it comes in the writing order. The function itself says which data the page needs: given
the `Site` (the report data plus figures several pages share) and a key, it returns the page's
template variables.

    @report_page("call", template="call.html", files="calls/{slug}.html", links=("overview", "agent"),
                 keys=lambda site: site.call_page_ids, order=20)
    def call_page(site: Site, call_id: str) -> dict:
        return {"call": site.call(call_id), ...}

Every module in this package is imported when the pages are first asked for, so a new page kind
is one new module here plus its template; `reports.render` writes every registered kind into the
report folder and lists its files in the manifest. Templates link to pages with
`link(kind, key, t=seconds)`, the address relative to the page being written; a link to a kind
the definition does not name in `links` is an error. Not every call has a page (see
`Site.call_page_ids`): templates ask `has_page("call", call_id)` before linking to one."""
from __future__ import annotations

import importlib
import pkgutil
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

from reports import evidence, stats
from reports.data import UNKNOWN_AGENT, ReportData, ReportFilters, ReportSource, page_slug
from reports.formatting import finite
from scoring.metrics import registered_metrics

CALL_PAGES = ("reached", "all")  # which calls get a page (Site's `calls`)
LATEST_CALLS = 10          # per agent: the most recent calls listed on the agent page, each with a page
AUTO_FAILED_PER_AGENT = 10  # per agent: the most recent auto-failed calls listed on the overview, with pages
OVERVIEW_CALLS = 100       # the most recent calls listed on the overview, with pages
MISSES_SHOWN = 3           # per criterion to coach: the agent's most recent misses quoted
PRIORITIES = 3             # criteria to coach first, per agent
TREND_CALLS = 60           # an agent with more dated calls gets a weekly score trend instead of one per call
CHUNK_CALLS = 200          # call pages' data is read this many calls at a time

Context = Callable[["Site", "str | None"], dict]


class PageError(Exception):
    """A page definition that cannot be used (a programming error, not a data fault)."""


@dataclass(frozen=True)
class Page:
    """One kind of report page: see the module docstring."""

    name: str
    template: str
    files: str                                          # "index.html", "calls/{slug}.html"
    context: Context                                    # (site, key) -> template variables
    keys: Callable[["Site"], Iterable[str]] | None = None  # one page per key; None: a single page
    links: tuple[str, ...] = ()                         # page kinds its pages link to
    order: int = 50                                     # written in this order (then by name)

    @property
    def single(self) -> bool:
        return self.keys is None

    @property
    def folder(self) -> str:
        """The folder its files are in, relative to the report folder ("" for the top)."""
        return posixpath.dirname(self.files)

    def file(self, key: str | None = None) -> str:
        """The file of the page for `key`, relative to the report folder."""
        if self.single:
            return self.files
        if key is None:
            raise PageError(f"page '{self.name}' needs a key ({self.files})")
        return self.files.replace("{slug}", page_slug(key))

    def pages(self, site: "Site") -> list[str | None]:
        """The keys to write a page for, in order ([None] for a single page)."""
        return [None] if self.single else list(self.keys(site))


_PAGES: dict[str, Page] = {}
_FILES = re.compile(r"(?:[a-z0-9_-]+/)*(?:[a-z0-9_.-]*\{slug\}[a-z0-9_.-]*|[a-z0-9_-][a-z0-9_.-]*)\.html")


def report_page(name: str, *, template: str, files: str, keys: Callable[["Site"], Iterable[str]] | None = None,
                links: Iterable[str] = (), order: int = 50) -> Callable[[Context], Context]:
    """Register the decorated function as the context of the page kind `name` (see the module docstring)."""

    def register(context: Context) -> Context:
        if name in _PAGES and _PAGES[name].context is not context:
            raise PageError(f"two report pages are called '{name}'")
        if not _FILES.fullmatch(files) or (keys is None) != ("{slug}" not in files):
            raise PageError(f"page '{name}': files '{files}' must be a relative lower-case .html path, "
                            "with {slug} exactly when the page has keys")
        _PAGES[name] = Page(name=name, template=template, files=files, context=context, keys=keys,
                            links=tuple(links), order=order)
        return context

    return register


def _discover() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def registered_pages() -> list[Page]:
    """Every page kind, in the order they are written; checks that the pages they link to exist
    and that no two kinds write the same files."""
    _discover()
    pages = sorted(_PAGES.values(), key=lambda p: (p.order, p.name))
    for page in pages:
        unknown = [name for name in page.links if name not in _PAGES]
        if unknown:
            raise PageError(f"page '{page.name}' links to pages nobody registered: {', '.join(unknown)}")
    patterns = [p.files for p in pages]
    if len(set(patterns)) != len(patterns):
        raise PageError("two report pages write the same files: " + ", ".join(sorted(patterns)))
    return pages


def page_folders() -> set[str]:
    """The folders registered pages are written in ("agents", "calls", ...), top level excluded."""
    return {p.folder for p in registered_pages() if p.folder}


def linker(page: Page, key: str | None) -> Callable[..., str]:
    """`link(kind, key=None, t=None, anchor=None)` for templates: the address of the page of kind
    `kind` for `key`, relative to the page `page` writes for `key`, ending "#t=<seconds>" when `t`
    is a finite time, else "#<anchor>" when an anchor is given. A link into the page itself is the
    bare "#..." (the call page seeks its recording to it)."""
    here = page.file(key)

    def link(kind: str, target_key: str | None = None, t: float | None = None, anchor: str | None = None) -> str:
        if kind != page.name and kind not in page.links:
            raise PageError(f"page '{page.name}' links to '{kind}', which it does not name in links")
        target = _PAGES[kind].file(target_key)
        fragment = f"#t={t}" if finite(t) else f"#{anchor}" if anchor else ""
        if target == here and fragment:
            return fragment
        return posixpath.relpath(target, posixpath.dirname(here) or ".") + fragment

    return link


class Site:
    """What every page reads: the report's source (`data`: rubric, criteria, calibration,
    failures; figures aggregated in DuckDB), the filters, and views several pages share.

    Calls get a page when a supervisor reaches them from the other pages (`calls="reached"`):
    the agent's `latest` calls, the calls quoted as coaching evidence (misses and a teammate's
    model), the latest auto-failed calls of each agent (AUTO_FAILED_PER_AGENT), the latest calls
    of the team (OVERVIEW_CALLS), and calls reviewed or queued for review; `calls="all"`: every call.
    Call pages' data (results, evidence, sections, turns) is read CHUNK_CALLS calls at a time.

    Metric evidence is given its metric (description, unit, value, spans) here, once for every
    page that shows it (see `reports.evidence`)."""

    def __init__(self, data: ReportSource, filters: ReportFilters, folder: Path, calls: str = "reached",
                 latest: int = LATEST_CALLS):
        if calls not in CALL_PAGES:
            raise ValueError(f"calls must be one of {', '.join(CALL_PAGES)}, not {calls!r}")
        self.data = data
        self.filters = filters
        self.folder = folder  # where the pages are being written
        self.calls_mode = calls
        self.latest = max(int(latest), 0)
        self.metric_registry = registered_metrics()  # read once: the registry is slow to list
        self._chunk: ReportData | None = None
        self._chunk_calls: dict[str, dict] = {}

    def folder_of(self, kind: str) -> Path:
        """The folder the pages of kind `kind` are being written in."""
        return self.folder / _PAGES[kind].folder

    @staticmethod
    def agent_of(call: dict) -> str:
        return call["agent"] or UNKNOWN_AGENT

    # -- figures, aggregated in DuckDB ------------------------------------------------------

    @cached_property
    def _summaries(self) -> dict[str | None, dict]:
        rows = self.data.read("scope_summaries", False) + self.data.read("scope_summaries", True)
        return {r["agent_key"]: r for r in rows}

    @cached_property
    def agents(self) -> list[str]:
        """Agent names (UNKNOWN_AGENT for calls without one), sorted."""
        return sorted(k for k in self._summaries if k is not None)

    def summary(self, agent: str | None = None) -> dict:
        """Calls, average score, pass rate, auto-fails and trend of the agent's calls (None: the team's)."""
        row = self._summaries.get(agent)
        if row is None or not row["calls"]:
            return {"calls": 0, "average": None, "pass_rate": None, "auto_failed": 0, "trend": ""}
        return {"calls": row["calls"], "average": row["average"], "pass_rate": row["pass_rate"],
                "auto_failed": row["auto_failed"], "trend": stats.trend_arrow(row["trend_change"])}

    @cached_property
    def _rates(self) -> dict[str | None, dict[str, float]]:
        rates: dict[str | None, dict[str, float]] = {}
        order = {cid: i for i, cid in enumerate(self.data.criteria)}
        rows = self.data.read("scope_pass_rates", False) + self.data.read("scope_pass_rates", True)
        for r in sorted(rows, key=lambda r: order.get(r["criterion_id"], len(order))):
            if r["applicable"]:
                rates.setdefault(r["agent_key"], {})[r["criterion_id"]] = r["passed"] / r["applicable"]
        return rates

    @property
    def team_rates(self) -> dict[str, float]:
        """Criterion id -> share of applicable (non-N/A) results that passed, over the team."""
        return self._rates.get(None, {})

    def rates_of(self, agent: str) -> dict[str, float]:
        return self._rates.get(agent, {})

    def weakest(self, agent: str) -> str:
        return stats.weakest_of(self.rates_of(agent), self.data.criteria)

    @cached_property
    def team_weeks(self) -> list[tuple]:
        """(Monday, average score, pass rate, calls) of each week with dated calls."""
        return [(r["week"], r["average"], r["pass_rate"], r["calls"]) for r in self.data.read("scope_weekly", False)]

    @cached_property
    def _agent_weeks(self) -> dict[str, list[tuple]]:
        weeks: dict[str, list[tuple]] = {}
        for r in self.data.read("scope_weekly", True):
            weeks.setdefault(r["agent_key"], []).append((r["week"], r["average"], r["pass_rate"], r["calls"]))
        return weeks

    @cached_property
    def _agent_points(self) -> dict[str, list[tuple]]:
        points: dict[str, list[tuple]] = {}
        for r in self.data.read("scope_points", TREND_CALLS):
            points.setdefault(r["agent_key"], []).append((r["call_date"], r["score"], bool(r["passed"])))
        return points

    def trend_points(self, agent: str) -> tuple[list[tuple], bool]:
        """The agent's score trend: ([(date, score, passed)], weekly). One point per dated call
        up to TREND_CALLS calls; beyond, one per week (average score, passed: at or above the pass mark)."""
        if agent in self._agent_points or agent not in self._agent_weeks:
            return self._agent_points.get(agent, []), False
        return [(week, average, average >= self.pass_mark) for week, average, _, _ in self._agent_weeks[agent]], True

    @cached_property
    def pass_mark(self) -> float:
        row = self._summaries.get(None)
        return (row or {}).get("pass_mark") or 0.0

    # -- coaching -------------------------------------------------------------------------------

    @cached_property
    def _models(self) -> dict[str, list[dict]]:
        return {}  # criterion id -> candidates, read for the criteria someone is coached on

    def _model_candidates(self, criterion_id: str) -> list[dict]:
        if criterion_id not in self._models:
            self._models[criterion_id] = self.data.read("scope_model_quotes", criterion_id, 2)
        return self._models[criterion_id]

    @cached_property
    def _languages(self) -> dict[str, set]:
        languages: dict[str, set] = {}
        for row in self.data.read("scope_languages"):
            languages.setdefault(row["agent_key"], set()).add(row["language"])
        return languages

    def _model(self, agent: str, criterion_id: str) -> dict | None:
        """The latest passing quote of the criterion from another agent's call, in a language the
        agent speaks when there is one (as `stats._teammate_quote`)."""
        languages = self._languages.get(agent, set())
        candidates = [m for m in self._model_candidates(criterion_id) if m["agent_key"] != agent]
        if not candidates:
            return None
        best = max(candidates, key=lambda m: (m["language"] in languages, m["call_date"] or date.min, m["call_id"]))
        return dict(best)

    @cached_property
    def _priorities(self) -> dict[str, list[dict]]:
        out = {agent: stats.rank_priorities(self.rates_of(agent), self.team_rates, self.data.criteria, PRIORITIES)
               for agent in self.agents}
        pairs = [(agent, p["criterion_id"]) for agent, ranked in out.items() for p in ranked]
        misses: dict[tuple[str, str], list[dict]] = {}
        rows = self.data.read("scope_misses", MISSES_SHOWN, [a for a, _ in pairs], [c for _, c in pairs]) if pairs else []
        for row in rows:
            evidence.attach_call_metrics({"metrics": row.pop("metrics")}, [row], self.metric_registry)
            misses.setdefault((row["agent_key"], row["criterion_id"]), []).append(row)
        for agent, ranked in out.items():
            for p in ranked:
                p["misses"] = misses.get((agent, p["criterion_id"]), [])
                p["model"] = self._model(agent, p["criterion_id"])
        return out

    def priorities(self, agent: str) -> list[dict]:
        """Criteria to coach first (`stats.rank_priorities`), each with the agent's first
        MISSES_SHOWN misses and a teammate's model quote."""
        return self._priorities.get(agent, [])

    # -- calls listed and calls with a page ------------------------------------------------------

    @cached_property
    def _latest(self) -> dict[str, list[dict]]:
        latest: dict[str, list[dict]] = {}
        rows = self.data.read("scope_calls", "latest", self.latest) if self.latest else []
        for row in rows:
            latest.setdefault(row["agent_key"], []).append(row)
        return latest

    def latest_calls(self, agent: str) -> list[dict]:
        """The agent's `latest` most recent calls, newest first (undated first)."""
        return sorted(self._latest.get(agent, []),
                      key=lambda c: (c["call_date"] is None, c["call_date"] or date.min, c["call_id"]), reverse=True)

    def recent_calls(self, agent: str) -> list[dict]:
        """The calls listed on the agent's page, newest first (undated first): every call of the
        agent when every call gets a page, else the `latest`."""
        if self.calls_mode != "all":
            return self.latest_calls(agent)
        return sorted(self.calls_of(agent),
                      key=lambda c: (c["call_date"] is None, c["call_date"] or date.min, c["call_id"]), reverse=True)

    def calls_of(self, agent: str) -> list[dict]:
        """Every call of the agent (report rows without details), by date then id: read from the
        database on each use."""
        return self.data.read("scope_calls", "all", agent=agent)

    @cached_property
    def auto_failed(self) -> list[dict]:
        """The most recent AUTO_FAILED_PER_AGENT auto-failed calls of each agent, by date then id."""
        return self.data.read("scope_calls", "auto_failed", AUTO_FAILED_PER_AGENT)

    @cached_property
    def overview_calls(self) -> list[dict]:
        """The team's OVERVIEW_CALLS most recent calls, by date then id."""
        return self.data.read("scope_calls", "team_latest", OVERVIEW_CALLS)

    @cached_property
    def call_page_ids(self) -> list[str]:
        """The calls that get a page (see the class docstring), by date then id."""
        if self.calls_mode == "all":
            return self.data.read("scope_call_ids")
        reached: dict[str, tuple] = {}

        def add(call_id: str, call_date=None) -> None:
            reached.setdefault(call_id, (call_date is None, call_date or date.min, call_id))

        for rows in self._latest.values():
            for c in rows:
                add(c["call_id"], c["call_date"])
        for c in self.auto_failed + self.overview_calls + self.data.read("scope_calls", "reviewed"):
            add(c["call_id"], c["call_date"])
        for ranked in self._priorities.values():
            for p in ranked:
                for m in p["misses"][:MISSES_SHOWN]:
                    add(m["call_id"], m.get("call_date"))
                if p["model"]:
                    add(p["model"]["call_id"], p["model"]["call_date"])
        return sorted(reached, key=lambda c: reached[c])

    @cached_property
    def _call_pages(self) -> set[str]:
        return set(self.call_page_ids)

    def has_page(self, kind: str, key: str | None = None) -> bool:
        """Whether the report writes the page of kind `kind` for `key` (a call page only for the
        calls in `call_page_ids`)."""
        if kind == "call":
            return key in self._call_pages
        return kind in _PAGES

    @cached_property
    def _page_position(self) -> dict[str, int]:
        return {call_id: i for i, call_id in enumerate(self.call_page_ids)}

    def _details(self, call_id: str) -> ReportData:
        """The chunk of call pages' data holding `call_id`, read when first asked for."""
        if call_id not in self._chunk_calls:
            at = self._page_position.get(call_id)
            ids = [call_id] if at is None else self.call_page_ids[at - at % CHUNK_CALLS:][:CHUNK_CALLS]
            self._chunk = self.data.calls_with_details(ids)
            evidence.attach_metrics(self._chunk, self.metric_registry)
            self._chunk_calls = {c["call_id"]: c for c in self._chunk.calls}
        return self._chunk

    def call(self, call_id: str) -> dict:
        """The call with its scorecard (KeyError for a call the report does not cover)."""
        self._details(call_id)
        return self._chunk_calls[call_id]

    def results_of(self, call_id: str) -> list[dict]:
        return self._details(call_id).results.get(call_id, [])

    def turns_of(self, call_id: str) -> list[dict]:
        return self._details(call_id).turns.get(call_id, [])

    def sections_of(self, call_id: str) -> list[dict]:
        return self._details(call_id).sections.get(call_id, [])

    def metrics(self, call_id: str) -> list[dict]:
        """Every registered metric of a call, as `reports.evidence.metric_rows` gives them."""
        return evidence.metric_rows(self.call(call_id), self.metric_registry)


__all__ = ["CALL_PAGES", "LATEST_CALLS", "Page", "PageError", "Site", "UNKNOWN_AGENT", "linker", "page_folders", "registered_pages",
           "report_page"]
