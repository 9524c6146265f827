"""What one backtest gives (`BacktestResult`): its table, returns, cost sweep and PBO, its verdict
in words, ``pbo.json`` and its figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.sources import data_label
from gatecast.evaluation.trading import (
    PBOResult,
    Trades,
    TrialSet,
    expected_max_sharpe,
)
from gatecast.experiment.backtest_config import BENCHMARKS, BacktestConfig
from gatecast.experiment.notebook import draw_or_write, html_view
from gatecast.experiment.report.formatting import BACKTEST_COLUMNS, in_words
from gatecast.experiment.run_folder import (
    RunFolder,
)

# columns of the printed table, those a decision rests on first (backtest.csv has them all)
_SHOWN = list(BACKTEST_COLUMNS)


@dataclass
class BacktestResult:
    """Per-model statistics (models, then the benchmarks), the returns, the cost sweep and the PBO.

    ``table`` is ``backtest.csv``: the statistics of :meth:`Trades.statistics` net of
    ``cost_bps`` (``look_ahead`` marks forecasts the screen flags), ``sharpe_gross``, and the
    PSR(0) and DSR with the ``n_trials`` and ``var_sr`` (per period) they used (a benchmark is
    one trial). ``trades`` holds every traded model and seed column, ``benchmarks`` the two
    benchmark rows; ``trial_set`` the distinct trials behind N, Var[SR_n] and the PBO.
    """

    config: BacktestConfig
    table: pd.DataFrame
    trades: Trades
    benchmarks: Trades
    sweep: pd.DataFrame
    pbo: PBOResult | None
    models: tuple[str, ...]
    n_trials: int
    var_sharpe: float
    trials: pd.Series
    source: str | None = None
    seconds: float = 0.0
    pbo_note: str = ""
    trial_set: TrialSet | None = field(default=None, repr=False)
    #: What the data's preparation left out or changed (a covariate's join: the rows before
    #: its first date), as ``gatecast evaluate`` says it.
    notes: list[str] = field(default_factory=list)

    @property
    def cost_bps(self) -> float:
        """The one-way cost of the table, in bps."""
        return self.trades.cost_bps

    @property
    def lookahead(self) -> pd.DataFrame:
        """The look-ahead screen of every traded column and benchmark
        (:attr:`Trades.lookahead`)."""
        frame: pd.DataFrame = pd.concat([self.trades.lookahead, self.benchmarks.lookahead])
        return frame

    @property
    def suspects(self) -> list[str]:
        """The table's models whose forecasts the look-ahead screen flags."""
        flagged = set(self.trades.suspects)
        return [m for m in self.models if m in flagged]

    def summary(self) -> str:
        """The table as text, then :meth:`verdict`."""
        with pd.option_context("display.width", 180, "display.max_columns", 30):
            text: str = in_words(self.table[_SHOWN]).to_string(float_format=lambda v: f"{v:.4g}")
        return f"{text}\n{self.verdict()}"

    def __str__(self) -> str:
        return self.summary()

    def verdict(self) -> str:
        """One sentence: does any model beat buy-and-hold's Sharpe ratio after costs? Models the
        look-ahead screen flags get "possible look-ahead" instead, and no comparison."""
        sharpe = self.table["sharpe"]
        bh = float(sharpe["buy_and_hold"])
        suspects = self.suspects
        warning = ""
        if suspects:
            reasons = self.trades.lookahead["reason"]
            why = "; ".join(f"{m}: {reasons[m]!s}" for m in suspects)
            warning = (
                f"Possible look-ahead in {', '.join(suspects)} ({why}). A forecast for day t "
                f"may use data up to day t-1 only: {'its' if len(suspects) == 1 else 'their'} "
                f"backtest is no evidence and is compared with nothing. "
            )
        models = sharpe[[m for m in self.models if m not in suspects]].dropna()
        if suspects and models.empty:
            return f"{warning}Buy-and-hold's net Sharpe ratio is {bh:.2f} at {self.cost_bps:g} bps."
        beat = models[models > bh]
        pbo = "" if self.pbo is None else f", PBO {self.pbo.pbo:.2f}"
        cfg = self.config
        of_sweep = f" of the sweep in {cfg.sweep}" if cfg.sweep and cfg.n_trials is None else ""
        if beat.empty:
            best = str(models.idxmax()) if len(models) else "none"
            best_sr = f"{models.max():.2f}" if len(models) else "n/a"
            cited = (
                f" (the DSR is deflated for N = {self.n_trials} trials{of_sweep})"
                if cfg.sweep
                else ""
            )
            return (
                f"{warning}Nothing {'else ' if suspects else ''}beats buy-and-hold after costs: "
                f"at {self.cost_bps:g} bps the best model, {best}, has a net Sharpe ratio of "
                f"{best_sr} against buy-and-hold's {bh:.2f}{cited}."
            )
        dsr = self.table.loc[beat.index, "dsr"]
        return (
            f"{warning}{', '.join(beat.index)} beat{'s' if len(beat) == 1 else ''} buy-and-hold's "
            f"net Sharpe ratio {bh:.2f} at {self.cost_bps:g} bps; deflated for N = "
            f"{self.n_trials} trials{of_sweep} the DSR is {', '.join(f'{v:.2f}' for v in dsr)}"
            f"{pbo}."
        )

    def returns(self) -> pd.DataFrame:
        """Date x (model, kind): ``position`` held over the day (set at the previous close),
        ``gross`` and ``net`` return; ``market`` holds the realised return."""
        parts = {}
        for tr in (self.trades, self.benchmarks):
            held, net = tr.held(), tr.net()
            for c in tr.columns:
                parts[(c, "position")] = held[c]
                parts[(c, "gross")] = tr.gross[c]
                parts[(c, "net")] = net[c]
        parts[("market", "return")] = self.trades.returns
        frame: pd.DataFrame = pd.DataFrame(parts)
        frame.columns = frame.columns.set_names(["model", "kind"])
        frame.index.name = "date"
        return frame

    def to_dict(self) -> dict[str, Any]:
        """What ``pbo.json`` holds: the PBO, the trials behind the DSR, the look-ahead screen
        and the run's facts."""
        cfg = self.config
        pbo: dict[str, Any] = (
            self.pbo.to_dict() if self.pbo is not None else {"pbo": None, "reason": self.pbo_note}
        )
        screen = self.lookahead
        return {
            **pbo,
            "cost_bps": self.cost_bps,
            "rule": asdict(self.trades.rule),
            "configurations": list(self.trials.index),
            "n_trials": self.n_trials,
            "trials": self.trial_set.to_dict() if self.trial_set is not None else None,
            "var_sharpe_per_period": self.var_sharpe,
            "var_sharpe_annual": self.var_sharpe * self.trades.rule.periods_per_year,
            "sr0_per_period": expected_max_sharpe(self.n_trials, self.var_sharpe),
            "trials_overridden": cfg.n_trials is not None or cfg.var_sharpe_annual is not None,
            "sweep": cfg.sweep,
            "trial_sharpes_annual": (
                self.trials * np.sqrt(self.trades.rule.periods_per_year)
            ).to_dict(),
            "periods_per_year": self.trades.rule.periods_per_year,
            "possible_look_ahead": self.suspects,
            "look_ahead_screen": screen.to_dict(orient="index"),
            "data": data_label(cfg.data),
            "test_start": cfg.test_start,
            "test_end": cfg.test_end,
            "first_date": self.trades.gross.index[0],
            "last_date": self.trades.gross.index[-1],
            "n_dates": len(self.trades.gross),
            "source": self.source,
            "notes": self.notes,
            "verdict": self.verdict(),
            "seconds": self.seconds,
        }

    def _repr_html_(self) -> str:
        title = f"{data_label(self.config.data)}, rule {self.config.rule}, {self.cost_bps:g} bps"
        return html_view(title, in_words(self.table[_SHOWN]), [self.verdict()])

    def plot(self, folder: str | Path | RunFolder | None = None) -> Any:
        """Net equity, drawdown and the Sharpe ratio against the cost: a dict of figures, or
        (``folder``) ``equity.png``, ``drawdown.png`` and ``cost_sweep.png`` written there."""
        from gatecast.plots.trading import plot_cost_sweep, plot_drawdown, plot_equity

        shown = [*self.models, *BENCHMARKS]
        net = pd.concat([self.trades.net(), self.benchmarks.net()], axis=1)[shown]
        title = f"{data_label(self.config.data)}, rule {self.trades.rule.name}, {self.cost_bps:g} bps one-way"
        sharpe = self.sweep["sharpe"].unstack("model")[shown]
        figures = {
            "equity.png": plot_equity(net, title=f"net equity: {title}"),
            "drawdown.png": plot_drawdown(net, title=f"drawdown: {title}"),
            "cost_sweep.png": plot_cost_sweep(sharpe, title=title),
        }
        return draw_or_write(figures, folder)
