"""Report pages, each one definition found through a registry.

A page kind is one function registered with `@report_page`. The decorator says which template
renders it (in reports/templates), which files it writes (a pattern relative to the report
folder; "{slug}" stands for the page name of a key, see `page_slug`), which keys it writes a page
for (a function of the `Site`; none: a single page), which page kinds its pages link to, and
where it comes in the writing order. The function itself says which data the page needs: given
the `Site` (the report data plus figures several pages share) and a key, it returns the page's
template variables.

    @report_page("call", template="call.html", files="calls/{slug}.html", links=("overview", "agent"),
                 keys=lambda site: [c["call_id"] for c in site.data.calls], order=20)
    def call_page(site: Site, call_id: str) -> dict:
        return {"call": site.call(call_id), ...}

Every module in this package is imported when the pages are first asked for, so a new page kind
is one new module here plus its template; `reports.render` writes every registered kind into the
report folder and lists its files in the manifest. Templates link to pages with
`link(kind, key, t=seconds)`, the address relative to the page being written; a link to a kind
the definition does not name in `links` is an error."""
from __future__ import annotations

import importlib
import pkgutil
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from reports import evidence, stats
from reports.data import ReportData, ReportFilters, page_slug
from reports.formatting import finite
from scoring.metrics import registered_metrics

UNKNOWN_AGENT = "(unknown)"

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
    """What every page reads: the report data, the filters, and figures several pages share.

    Metric evidence in `data.results` is given its metric (description, unit, value, spans) here,
    once for every page that shows it (see `reports.evidence`)."""

    def __init__(self, data: ReportData, filters: ReportFilters, folder: Path):
        self.data = data
        self.filters = filters
        self.folder = folder  # where the pages are being written
        self.metric_registry = registered_metrics()  # read once: the registry is slow to list
        evidence.attach_metrics(data, self.metric_registry)

    def folder_of(self, kind: str) -> Path:
        """The folder the pages of kind `kind` are being written in."""
        return self.folder / _PAGES[kind].folder

    @cached_property
    def calls_by_id(self) -> dict[str, dict]:
        return {c["call_id"]: c for c in self.data.calls}

    def call(self, call_id: str) -> dict:
        return self.calls_by_id[call_id]

    @staticmethod
    def agent_of(call: dict) -> str:
        return call["agent"] or UNKNOWN_AGENT

    @cached_property
    def agents(self) -> list[str]:
        """Agent names (UNKNOWN_AGENT for calls without one), sorted."""
        return sorted(self._calls_by_agent)

    @cached_property
    def _calls_by_agent(self) -> dict[str, list[dict]]:
        grouped: dict[str, list[dict]] = {}
        for call in self.data.calls:
            grouped.setdefault(self.agent_of(call), []).append(call)
        return grouped

    def calls_of(self, agent: str) -> list[dict]:
        """The agent's calls, in report order (date, then id)."""
        return list(self._calls_by_agent.get(agent, []))

    @cached_property
    def team_rates(self) -> dict[str, float]:
        return stats.pass_rates(self.data)

    def metrics(self, call_id: str) -> list[dict]:
        """Every registered metric of a call, as `reports.evidence.metric_rows` gives them."""
        return evidence.metric_rows(self.call(call_id), self.metric_registry)

    @cached_property
    def pass_mark(self) -> float:
        return self.data.calls[0]["pass_mark"] if self.data.calls else 0.0


__all__ = ["Page", "PageError", "Site", "UNKNOWN_AGENT", "linker", "page_folders", "registered_pages",
           "report_page"]
