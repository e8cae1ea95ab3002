"""The calibration page (calibration-<version>.html): per criterion of the reported rubric version,
how often the machine agrees with reviewers (pairs, raw agreement, Cohen's kappa, Gwet's AC1,
answer shares, disagreements), how reviewers agree with each other, and which criteria need human
review (too few pairs, or AC1 below the gate). Written only when the version has reviews."""
from __future__ import annotations

from qa.calibration import CATEGORIES, GATE_AC1, MIN_N, Agreement, agreement
from reports.data import page_slug
from reports.pages import Site, report_page

FILES = "calibration-{slug}.html"


def calibration_keys(site: Site) -> list[str]:
    """The version's short hash when any of its criteria was reviewed (one page), else none."""
    cal = site.data.calibration
    return [cal.rubric_hash[:8]] if cal is not None and (cal.machine or cal.humans) else []


def calibration_file(site: Site) -> str | None:
    """The calibration page's file relative to the report folder, or None when none is written.
    (The overview links to it by this name: its own `links` name only agent and call pages.)"""
    keys = calibration_keys(site)
    return FILES.replace("{slug}", page_slug(keys[0])) if keys else None


def figures(stat: Agreement | None) -> dict:
    """An agreement as the page shows it: raw, kappa and AC1 are None below MIN_N pairs."""
    stat = stat or agreement([])
    shown = stat.enough and stat.n > 0
    return {"n": stat.n, "enough": shown, "raw": stat.raw if shown else None,
            "kappa": stat.kappa if shown else None, "ac1": stat.ac1 if shown else None,
            "prevalence": stat.prevalence, "confusion": stat.confusion,
            "agree": sum(stat.confusion.get((c, c), 0) for c in CATEGORIES)}


@report_page("calibration_report", template="review_calibration.html", files=FILES, keys=calibration_keys,
             links=("overview",), order=80)
def calibration_page(site: Site, key: str) -> dict:
    cal = site.data.calibration
    rows = [{"criterion_id": cid, "name": d["name"] or cid, "critical": d["critical"],
             "machine": figures(cal.machine.get(cid)), "humans": figures(cal.humans.get(cid)),
             "needs_review": cal.flagged.get(cid)} for cid, d in site.data.criteria.items()]
    return {"rows": rows, "rubric": site.data.rubric, "min_n": MIN_N, "gate": GATE_AC1,
            "categories": CATEGORIES}
