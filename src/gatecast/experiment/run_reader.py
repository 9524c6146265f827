"""A run folder read back (:class:`Run`): which command wrote it, whether it finished, its
settings, its data's identity and its tables, from ``run.json`` or, for folders written before it,
from the files only their command writes."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from gatecast.artifacts import (
    describe_path,
)
from gatecast.errors import ConfigError, ModelFileError
from gatecast.experiment.run_folder import (
    RUN_FORMAT_VERSION,
    RUN_RECORD,
    RunStatus,
    read_run_record,
)

RunKind = Literal[
    "train",
    "evaluate",
    "panel-evaluate",
    "panel-var",
    "panel-backtest",
    "blocks",
    "backtest",
    "var",
    "sweep",
    "panel-sweep",
    "demo",
    "gradient-flow",
    "gates",
]
#: Each kind's tables: name -> (file, index columns).
_TABLES: dict[str, dict[str, tuple[str, int]]] = {
    "train": {"forecasts": ("forecasts.csv", 1)},
    "evaluate": {"leaderboard": ("leaderboard.csv", 1), "forecasts": ("forecasts.parquet", 0)},
    "panel-evaluate": {
        "summary": ("summary.csv", 1),
        "per_instrument": ("per_instrument.csv", 0),
        "forecasts": ("forecasts.parquet", 0),
        "folds": ("folds.csv", 0),
        "ablation": ("ablation.csv", 1),  # with --covariates
        "seeds": ("seeds.csv", 2),  # with --seeds 2 or more
        "seed_spread": ("seed_spread.csv", 1),
    },
    "panel-var": {
        "summary": ("summary.csv", 3),
        "per_instrument": ("per_instrument.csv", 0),
        "risk": ("risk.parquet", 0),
        "folds": ("folds.csv", 0),
        "horizon_summary": ("horizon_summary.csv", 3),  # with --horizon
        "horizon_per_instrument": ("horizon_per_instrument.csv", 0),
        "horizon_risk": ("horizon_risk.parquet", 0),
    },
    "panel-backtest": {
        "backtest": ("backtest.csv", 1),
        "returns": ("returns.parquet", 0),
        "weights": ("weights.parquet", 0),
    },
    "blocks": {"blocks": ("blocks.csv", 2), "wide": ("blocks_wide.csv", 1)},
    "backtest": {
        "backtest": ("backtest.csv", 1),
        "returns": ("returns.parquet", 0),
        "cost_sweep": ("cost_sweep.csv", 2),
    },
    "var": {"var_backtest": ("var_backtest.csv", 2), "risk": ("risk.parquet", 0)},
    "sweep": {
        "selection": ("selection.csv", 1),
        "test": ("test.csv", 1),
        "trials": ("trials.parquet", 0),
    },
    "panel-sweep": {
        "selection": ("selection.csv", 1),
        "test": ("test/summary.csv", 1),
        "per_instrument": ("test/per_instrument.csv", 0),
        "trials": ("trials.parquet", 0),
    },
    "demo": {"notebook": ("notebook.csv", 1), "sp500": ("sp500.csv", 1)},
    "gradient-flow": {},
    "gates": {},
}
#: Folders written before ``run.json``: the file only that command writes (first match wins),
#: and the file it writes last (present: the run finished).
_EARLIER: tuple[tuple[str, RunKind, str], ...] = (
    ("sweep.json", "sweep", "sweep_summary.json"),
    ("pbo.json", "backtest", "pbo.json"),
    ("var_backtest.json", "var", "var_backtest.json"),
    ("blocks.json", "blocks", "blocks.json"),
    ("gradient_flow.json", "gradient-flow", "gradient_flow.json"),
    ("notebook.csv", "demo", "metrics.json"),
    ("manifest.json", "train", "metrics.json"),
    ("leaderboard.csv", "evaluate", "metrics.json"),
    ("forecasts.parquet", "evaluate", "metrics.json"),
    ("folds", "evaluate", "metrics.json"),
    ("evaluation/folds", "backtest", "pbo.json"),
)
#: The config of a run folder written before ``run.json``: file and key (None: the whole file).
_EARLIER_CONFIG: dict[str, tuple[str, str | None]] = {
    "train": ("config.json", None),
    "evaluate": ("metrics.json", "config"),
    "blocks": ("blocks.json", "config"),
    "backtest": ("config.json", None),
    "var": ("config.json", None),
    "sweep": ("sweep.json", None),
}


@dataclasses.dataclass(frozen=True)
class Run:
    """A run folder read back: which command wrote it, whether it finished, its settings, its
    data's identity and its tables, from its ``run.json`` (folders written before that existed
    are recognised by the files only their command writes, ``format_version`` 0).

    Examples
    --------
    >>> run = Run.open("runs/eval")  # doctest: +SKIP
    >>> run.kind, run.status  # doctest: +SKIP
    ('evaluate', 'finished')
    >>> run.table("leaderboard")  # doctest: +SKIP
    """

    path: Path
    kind: RunKind
    status: RunStatus
    config: dict[str, Any]
    data: dict[str, Any] | None = None
    format_version: int = RUN_FORMAT_VERSION
    #: The command line that made the run (``["gatecast", "evaluate", ...]``); None for a run
    #: made from Python or by a gatecast older than this record.
    command: list[str] | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Run:
        """Read the run folder ``path``; a :class:`ConfigError` names what is wrong when it is
        not one (missing, a file, a folder of other files, an unreadable ``run.json``)."""
        root = Path(path)
        if not root.is_dir():
            what = "does not exist" if not root.exists() else f"is {describe_path(root)}"
            raise ConfigError(f"{root} {what}; give a run folder written by gatecast")
        if (root / RUN_RECORD).is_file():
            record = read_run_record(root)
            kinds = tuple(_TABLES)
            if record is None or record.get("kind") not in kinds:
                raise ConfigError(
                    f"{root / RUN_RECORD} is not a readable run record (a JSON object whose kind "
                    f"is one of {', '.join(kinds)}); restore it or rerun into a new folder"
                )
            version = record.get("format_version")
            if not isinstance(version, int) or version > RUN_FORMAT_VERSION:
                raise ConfigError(
                    f"{root / RUN_RECORD} has format_version {version!r}; this gatecast reads "
                    f"1 to {RUN_FORMAT_VERSION}: upgrade gatecast"
                )
            status: RunStatus = "finished" if record.get("status") == "finished" else "running"
            return cls(
                root,
                record["kind"],
                status,
                dict(record.get("config") or {}),
                record.get("data"),
                version,
                _command_of(record),
            )
        for marker, kind, last in _EARLIER:
            if (root / marker).exists():
                earlier: RunStatus = "finished" if (root / last).is_file() else "running"
                return cls(root, kind, earlier, _earlier_config(root, kind), None, 0)
        names = sorted(p.name for p in root.iterdir())
        raise ConfigError(
            f"{root} holds no gatecast run (no {RUN_RECORD}; it has "
            f"{', '.join(names[:6]) or 'nothing'}); give a folder a gatecast command wrote"
        )

    @property
    def tables(self) -> tuple[str, ...]:
        """The names of this kind's tables (for :meth:`table`)."""
        return tuple(_TABLES[self.kind])

    def table(self, name: str | None = None) -> pd.DataFrame:
        """One of the run's tables as a DataFrame (default: the first, the one its command
        prints: the leaderboard, the backtest, the VaR backtest, the selection...)."""
        tables = _TABLES[self.kind]
        if not tables:
            raise ConfigError(f"a {self.kind} run has figures and JSON only, no tables")
        key = name if name is not None else next(iter(tables))
        if key not in tables:
            raise ConfigError(f"a {self.kind} run has no table {key!r}; it has {', '.join(tables)}")
        file, index = tables[key]
        path = self.path / file
        if not path.is_file():
            state = "was not finished" if self.status == "running" else "lacks it"
            raise ConfigError(f"{path} is missing: the {self.kind} run in {self.path} {state}")
        if file.endswith(".parquet"):
            return pd.read_parquet(path)
        frame: pd.DataFrame = pd.read_csv(path, index_col=list(range(index)) or None)
        return frame

    def json(self, name: str) -> dict[str, Any]:
        """A JSON file of the run (``metrics.json``, ``pbo.json``...) as a dict."""
        path = self.path / name
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} cannot be read as JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise ConfigError(f"{path} does not hold a JSON object")
        return value

    def __str__(self) -> str:
        source = (self.data or {}).get("source") or self.config.get("data", "")
        return (
            f"{self.kind} run in {self.path} ({self.status}{', ' + str(source) if source else ''})"
        )

    def _repr_html_(self) -> str:
        from html import escape

        head = f"<p><b>{escape(str(self))}</b></p>"
        if self.status != "finished" or not self.tables:
            return head
        return head + self.table().to_html(float_format=lambda v: f"{v:.4g}", max_rows=20)


def _command_of(record: dict[str, Any]) -> list[str] | None:
    command = record.get("command")
    return [str(a) for a in command] if isinstance(command, list) else None


def _earlier_config(root: Path, kind: RunKind) -> dict[str, Any]:
    file, key = _EARLIER_CONFIG.get(kind, ("", None))
    if not file or not (root / file).is_file():
        return {}
    try:
        doc = json.loads((root / file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found = doc.get(key) if key is not None and isinstance(doc, dict) else doc
    return dict(found) if isinstance(found, dict) else {}


def open_finished_run(folder: str | Path, kind: str, takes: str, detail: str) -> Run:
    """The finished run of ``kind`` in ``folder``; else a :class:`ModelFileError` saying what
    ``--from-run`` ``takes`` (with the ``detail`` of such a folder)."""
    try:
        run = Run.open(folder)
    except ConfigError as exc:
        raise ModelFileError(f"{takes}: {exc}") from exc
    if run.kind != kind or run.status != "finished":
        state = "an unfinished" if run.status != "finished" else "a"
        raise ModelFileError(f"{folder} holds {state} {run.kind} run: {takes} ({detail})")
    return run


def run_forecasts(run: Run, folder: str | Path) -> pd.DataFrame:
    """The forecasts (``forecasts.parquet``) of an evaluation's ``run`` in ``folder``."""
    try:
        return run.table("forecasts")
    except (ConfigError, OSError, ValueError) as exc:
        raise ModelFileError(
            f"{Path(folder) / 'forecasts.parquet'} cannot be read ({exc}); rerun `gatecast "
            f"evaluate` into a new folder"
        ) from exc
