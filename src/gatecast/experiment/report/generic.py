"""The page of any other run folder (backtest, var, sweep ...): its settings, tables and PNGs."""

from __future__ import annotations

from pathlib import Path

from gatecast.experiment.report.facts import versions
from gatecast.experiment.report.files import read_csv, read_json, source_files
from gatecast.experiment.report.page import CLOCK_COLUMNS, Report, Table
from gatecast.experiment.report.rerun import plain

#: Files that tell which command wrote a run folder the report has no page of its own for.
MARKERS = {"backtest.csv": "backtest", "var.csv": "var", "sweep.csv": "sweep"}
#: Settings that do not shape a result (where it was written, how it talked).
NOT_SETTINGS = ("out", "quiet", "n_jobs")


def generic_report(folder: Path, figures: bool) -> Report:
    """Any other run folder (``backtest`` ...): its settings, the first verdict of its JSON
    files, its CSV tables (first 50 rows) and, inline, its PNGs."""
    has = {p.name for p in folder.iterdir()}
    command = next((c for name, c in MARKERS.items() if name in has), "run")
    docs = {p.name: read_json(folder, p.name) for p in sorted(folder.glob("*.json"))}
    verdict = next((str(d["verdict"]) for d in docs.values() if d.get("verdict")), "")
    config = docs.get("config.json", {})
    tables = [
        Table(p.name, read_csv(folder, p.name).drop(columns=list(CLOCK_COLUMNS), errors="ignore"))
        for p in sorted(folder.glob("*.csv"))
    ]
    tables = [Table(t.title, t.frame.head(50), t.note) for t in tables]
    settings = ", ".join(f"{k}={plain(v)}" for k, v in config.items() if k not in NOT_SETTINGS)
    facts = [
        ("Run", f"gatecast {command}" + (f": {settings}" if settings else "")),
        ("Versions", versions({})),
    ]
    return Report(
        kind=command,
        title=f"gatecast {command}: {', '.join(t.title for t in tables) or 'run folder'}",
        verdict=verdict,
        facts=facts,
        command="(this run folder does not record its command line; see the settings above)",
        tables=tables,
        sources=source_files(folder),
    )
