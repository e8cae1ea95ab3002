"""One page per call the report reaches (calls/<call>.html; `Site.call_page_ids`): verdict, metrics, who-spoke-when timeline, scorecard
with evidence, transcript with the quoted evidence highlighted; its times seek the recording."""
from __future__ import annotations

import os
from pathlib import Path

from reports import stats
from reports.formatting import finite
from reports.pages import Site, report_page


def audio_href(file: str, page_dir: Path) -> str:
    """Relative link from a page to the recording, so the folder works from a file share."""
    try:
        target = Path(file).resolve()
    except (OSError, ValueError):  # a file name the file system cannot hold
        return ""
    try:
        return Path(os.path.relpath(target, page_dir.resolve())).as_posix()
    except ValueError:
        return target.as_uri()


def call_view(site: Site, call: dict) -> dict:
    """What a call page shows: results, section scores, metrics, transcript with evidence highlighted."""
    results = site.results_of(call["call_id"])
    quotes = [dict(e, criterion_name=r["name"]) for r in results for e in r["evidence"]
              if e["kind"] == "quote" and finite(e["start_s"]) and finite(e["end_s"])]
    turns = []
    for turn in site.turns_of(call["call_id"]):
        timed = finite(turn["start_s"]) and finite(turn["end_s"])  # a missing or NaN time marks nothing
        own = [q for q in quotes if timed and q["start_s"] < turn["end_s"] + 0.01 and q["end_s"] > turn["start_s"] - 0.01]
        turns.append(dict(turn, pieces=stats.highlighted(turn["text"], own)))
    return {"results": results, "sections": site.sections_of(call["call_id"]), "turns": turns,
            "metrics": site.metrics(call["call_id"])}


@report_page("call", template="call.html", files="calls/{slug}.html", links=("overview", "agent"),
             keys=lambda site: site.call_page_ids, order=20)
def call_page(site: Site, call_id: str) -> dict:
    call = site.call(call_id)
    return {"call": call, "audio_href": audio_href(call["file"], site.folder_of("call")), **call_view(site, call)}
