"""Forecasts from a saved model: every date of the data from ``start``, the bar after it dated in
the model's trading calendar, with intervals, quantiles and several steps ahead where asked
(``gatecast predict``, ``gc.predict``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gatecast.artifacts import KeyLike, atomic_write_bytes, atomic_write_text
from gatecast.data.calendar import (
    DATA,
    bars_per_year,
    check_calendar,
    check_exchange,
    information_dates,
)
from gatecast.data.calendar_covariates import forecast_calendar
from gatecast.data.covariates import join_covariates
from gatecast.data.features import make_target, price_series
from gatecast.data.sources import (
    DataSource,
    load,
    resolve_column,
)
from gatecast.data.volatility import percent_returns
from gatecast.errors import ConfigError
from gatecast.evaluation.var import Distribution
from gatecast.experiment.forecast_intervals import (
    apply_intervals,
    check_levels,
)
from gatecast.experiment.forecast_steps import (
    HISTORY,
    SHOWN,
    check_one_day_model,
    check_steps,
    check_steps_model,
    fan_figure,
    step_table,
)
from gatecast.experiment.notebook import html_view
from gatecast.experiment.run_folder import (
    check_not_input,
    check_out_file,
)
from gatecast.inference.pipeline import future_calendar
from gatecast.types import (
    check_choice,
)

if TYPE_CHECKING:  # torch loads only when a model is built, so `gatecast --help` stays fast
    from matplotlib.figure import Figure


from gatecast.experiment.training import forecast_frame


@dataclass
class Prediction:
    """A saved model's forecasts on some data: the table written to CSV, and the facts behind
    the last line (tomorrow's forecast): the calendar that dated it, the bars a year that
    annualise a variance (None for undated rows), and notes on the data's dates. With
    ``steps`` (``predict --steps h``), the long table of the forecasts 1..h bars after the
    data; ``recent`` holds the last prices, which the fan chart shows."""

    frame: pd.DataFrame
    model: str
    target: str
    column: str | None
    no_change: float
    calendar: str = "the data's own trading days"
    periods_per_year: float | None = None
    notes: list[str] = field(default_factory=list)
    level: float | None = None
    steps: pd.DataFrame | None = None
    recent: pd.Series | None = None
    log: bool = True

    @property
    def next(self) -> pd.Series:
        """The forecasts beyond the data (``actual`` empty)."""
        rows: pd.Series = self.frame.loc[self.frame["actual"].isna(), "forecast"]
        return rows

    def _repr_html_(self) -> str:
        if self.steps is not None:
            return html_view(
                f"{self.model}: {self.target} forecasts 1..{len(self.steps)} bars ahead",
                self.steps,
                self.step_lines()[:1],
            )
        return html_view(
            f"{self.model}: {self.target} forecasts", self.frame.tail(10), [self.last_line()]
        )

    def plot(self) -> Figure:
        """The fan chart: with ``steps``, the last prices and the h-step price path in its
        bands from the last close; otherwise the last forecasts of the return in their bands
        beside the realised returns (a variance model's return forecast is 0). One band per
        interval level (``lower``/``upper`` and each pair of quantiles); no band without
        ``interval`` or ``quantiles``."""
        if self.recent is None:
            raise ConfigError("this prediction keeps no prices to draw; make it with gc.predict")
        what = f"{len(self.steps)}-bar price path" if self.steps is not None else self.target
        return fan_figure(
            self.frame,
            self.steps,
            self.recent,
            level=self.level,
            variance=self.target == "variance",
            log=self.log,
            title=f"{self.model}: {what} forecast and its bands",
        )

    def step_lines(self) -> list[str]:
        """The h-step path, one line a step (the first and last ones of a long path): date,
        forecast, cumulative return or variance, the interval in return and price."""
        t = self.steps
        if t is None:
            return []
        variance = self.target == "variance"
        head = (
            f"{len(t)} bars after {stamp(t['as_of'].iloc[0])}: step, date, "
            + ("cumulative variance (%^2)" if variance else "cumulative return, price")
            + (f", {self.level:.0%} interval (price)" if "lower" in t else "")
        )
        lines = [head]
        dates = pd.Index(t["date"])
        rows = list(range(len(t)))
        if len(t) > SHOWN:
            rows = [*rows[: SHOWN - 3], -1, *rows[-2:]]
        for i in rows:
            if i < 0:
                lines.append("  ...")
                continue
            r = t.iloc[i]
            text = f"  {int(r['step']):>3} {stamp(r['date'], dates)}"
            if variance:
                text += f"  {float(r['cumulative_variance']):.4f}"
            else:
                text += f"  {100 * float(r['cumulative']):+.2f}%  {float(r['price_forecast']):.6g}"
            if "lower" in t:
                text += (
                    f"  {100 * float(r['lower']):+.2f}% .. {100 * float(r['upper']):+.2f}%"
                    f" ({float(r['price_lower']):.6g} .. {float(r['price_upper']):.6g})"
                )
            lines.append(text)
        return lines

    def last_line(self) -> str:
        """E.g. "2019-01-02 forecast: +0.04% (lstm), no-change 0", and the interval, quantiles
        and risk of that day where they were asked for."""
        if self.frame.empty:
            return "no forecast"
        day = stamp(self.frame.index[-1], self.frame.index)
        value = float(self.frame["forecast"].iloc[-1])
        ppy = self.periods_per_year
        line = f"{day} forecast: {_fmt(self.target, value, ppy)} ({self.model}), " + (
            f"no-change {_fmt(self.target, self.no_change, ppy)}"
            if self.target != "direction"
            else "no-change has no direction"
        )
        return "; ".join([line, *self.band_lines()])

    def band_lines(self) -> list[str]:
        """The last row's interval, quantiles, VaR and ES as return (%) and price."""
        last = self.frame.iloc[-1]
        out = []

        def pair(name: str) -> str:
            return f"{100 * float(last[name]):+.2f}% (price {float(last['price_' + name]):.6g})"

        if "lower" in last and self.level is not None:
            out.append(
                f"{self.level:.0%} interval of the return {pair('lower')} .. {pair('upper')}"
            )
        qs = [c for c in self.frame.columns if c.startswith("q") and c[1:2].isdigit()]
        out += [f"{c} {pair(c)}" for c in qs]
        for c in [c for c in self.frame.columns if c.startswith(("var_", "es_"))]:
            loss = float(last[c])
            out.append(f"{c} loss {100 * loss:.2f}% ({float(last['price_' + c]):.6g} in price)")
        return out


def stamp(value: Any, index: pd.Index | None = None) -> str:
    """A date as printed: ``2025-01-02``, with the time of day where the series has intraday
    bars (``2025-01-02 09:30``); anything else as it is."""
    if not isinstance(value, pd.Timestamp):
        return str(value)
    times = index if isinstance(index, pd.DatetimeIndex) else pd.DatetimeIndex([value])
    if (times != times.normalize()).any():
        return f"{value:%Y-%m-%d %H:%M}" + (f":{value:%S}" if value.second else "")
    return f"{value:%Y-%m-%d}"


def _fmt(target: str, value: float, periods_per_year: float | None = None) -> str:
    if math.isnan(value):
        return "n/a"
    if target == "return":
        return "0" if value == 0 else f"{100 * value:+.2f}%"
    if target == "direction":
        return f"P(up) {value:.3f}"
    if target == "variance":
        if periods_per_year is None:
            return f"variance {value:.4g} %^2"
        vol = math.sqrt(periods_per_year * value)
        return (
            f"variance {value:.4g} %^2 (annualised volatility {vol:.1f}%, "
            f"{periods_per_year:.6g} bars a year)"
        )
    return f"{value:.6g}"


def run_prediction(
    model_dir: str | Path,
    data: DataSource,
    out: str | Path | None = None,
    *,
    start: str | None = None,
    end: str | None = None,
    column: str | None = None,
    sort: bool = False,
    dropna: bool = False,
    device: str = "auto",
    dayfirst: bool | None = None,
    date_format: str | None = None,
    allow_outliers: bool = False,
    overwrite: bool = False,
    signing_key: KeyLike = None,
    require_signature: bool | None = None,
    calendar: str | None = None,
    interval: float | None = None,
    quantiles: Sequence[float] | None = None,
    dist: Distribution | None = None,
    steps: int | None = None,
    plot: str | Path | None = None,
) -> Prediction:
    """Forecast ``data`` with a saved model (return, price, direction or variance) and write
    ``date,actual,forecast,in_sample,as_of`` to ``out`` (CSV; None: nothing is written).

    ``date`` is the date (and, for intraday bars, the time) each forecast is for, ``as_of`` the
    date of the last observation it used. Unless ``end`` stops earlier, the last rows are the
    forecasts for the bars after the data, with ``actual`` empty, dated in ``calendar`` (an
    exchange code such as ``XNYS``, or ``data`` for the data's own calendar; default: the one
    the model records, see :func:`gatecast.inference.pipeline.future_calendar`). ``in_sample`` marks
    the dates whose targets the model was trained on. A variance model's ``actual`` is the
    squared percent return of the bar. ``column`` overrides the price column the model was
    trained on. An existing ``out`` is replaced only with ``overwrite`` (a device, a FIFO or a
    folder never). ``signing_key`` and ``require_signature`` verify the folder's signature (see
    ``gatecast.inference.read_model_folder``).

    ``interval`` (e.g. 0.9) adds ``lower``/``upper`` and ``quantiles`` (e.g. (0.05, 0.5, 0.95))
    ``q0.05``... columns around a one-day return forecast or, for a variance model, around a zero
    mean return, by adaptive conformal inference restarted from the calibration recorded at
    ``train`` (see :mod:`gatecast.experiment.forecast_intervals`); each also as ``price_*``, from
    the last close. ``dist`` (``normal`` or ``t``, variance models only) takes a variance
    model's quantiles from that predictive distribution instead and adds VaR and ES columns.

    ``steps`` (h >= 1; not with ``start``/``end``) adds the forecasts 1..h bars after the data
    as :attr:`Prediction.steps`, and ``out`` then gets that long table instead (see
    :func:`gatecast.experiment.forecast_steps.step_table` for the rules). ``plot`` (a .png,
    .svg or .pdf path; needs ``interval`` or ``quantiles``) writes the fan chart there
    (:meth:`Prediction.plot`).

    A model trained with covariate groups (``gatecast train --covariates sp500``; the folder
    records them) gets them joined onto ``data`` by
    :func:`gatecast.data.covariates.join_covariates`, as the training run joined them; data
    past a covariate's coverage is refused with that function's message.
    """
    from gatecast.models.recurrent import RecurrentVariance, load_model

    check_levels(interval, quantiles)
    if dist is not None:
        check_choice(dist, ("normal", "t"), "dist")
    check_steps(steps, start, end)
    if plot is not None:
        _check_plot(plot, out, interval, quantiles)

    if out is not None:
        check_not_input(out, {"--data": data, "--model": model_dir})
        check_out_file(out, overwrite=overwrite)
    if plot is not None:
        check_not_input(plot, {"--data": data, "--model": model_dir})
        if Path(plot).exists() and not overwrite:
            raise ConfigError(
                f"--plot {plot} already exists; pass --overwrite to replace it, or choose a new "
                "file"
            )
        check_out_file(plot, overwrite=True)  # a device, a FIFO or a folder is still refused
    if calendar is not None and calendar != DATA:
        check_exchange(calendar)  # a mistyped name fails before anything is read
    model = load_model(
        model_dir, device=device, signing_key=signing_key, require_signature=require_signature
    )
    _check_applies(model, isinstance(model, RecurrentVariance), interval, quantiles, dist)
    check_steps_model(model, steps, variance=isinstance(model, RecurrentVariance))
    if steps is not None and model._fitted().covariates:
        raise ConfigError(
            f"--steps does not apply to a model that reads the covariates "
            f"{list(model._fitted().covariates)}: the bars after the data need their values, "
            f"which are not known yet; leave --steps out (the forecast for the next bar)"
        )
    col = column or model.column_
    df = load(
        data,
        column=col,
        sort=sort,
        dropna=dropna,
        dayfirst=dayfirst,
        date_format=date_format,
        allow_outliers=allow_outliers,
    )
    groups = [str(g) for g in model._fitted().info.get("covariate_groups") or ()]
    calendar = forecast_calendar(groups, calendar)  # a calendar group's exchange dates it
    joined: list[str] = []
    if groups:  # the covariates joined as the training run joined them (the same function)
        df, joined = join_covariates(df, groups)
    if column is not None:
        model.spec_ = replace(model._fitted(), column=resolve_column(df, column))
    if calendar is not None:
        spec = model._fitted()
        model.spec_ = replace(spec, info={**spec.info, "calendar": {"name": calendar}})
    cal = future_calendar(model._fitted(), df.index)
    notes = [note] if (note := check_calendar(df.index, cal)) else []
    notes += joined
    col = model.column_
    fc = model.predict(df, start=start, end=end, future=True)
    if fc.empty:
        raise ConfigError(
            f"no forecasts: {data} has no date in [{start}, {end}] with {model.window} rows of "
            "history before it; pick other dates or more data"
        )
    variance = isinstance(model, RecurrentVariance)
    if variance:
        actual = percent_returns(df, col) ** 2
        target = "variance"
        r2 = actual.dropna()
        no_change = float(r2.iloc[-22:].mean())
    else:
        spec = model.target_spec
        actual = make_target(df, spec, col)
        target = spec.kind
        no_change = float(price_series(df, col).iloc[-1]) if target == "price" else 0.0
    trained_to = (model.train_range_ or ("", ""))[1]
    in_sample = _on_or_before(fc.index, trained_to)
    as_of = information_dates(df.index, fc.index, model._fitted().horizon)
    frame = forecast_frame(actual, fc, in_sample, as_of)
    if interval is not None or quantiles:
        frame, more = apply_intervals(
            model,
            df,
            frame,
            model._fitted().info,
            str(Path(model_dir) / "manifest.json"),
            variance=variance,
            interval=interval,
            quantiles=quantiles,
            dist=dist,
        )
        notes += more
    table = None
    if steps is not None:
        where = str(Path(model_dir) / "manifest.json")
        info = model._fitted().info
        table, more = step_table(model, df, frame, cal, steps, info, where, variance=variance)
        notes += more
    try:
        ppy: float | None = bars_per_year(df.index, cal)
    except ConfigError:  # undated rows: no year to annualise over
        ppy = None
    pred = Prediction(
        frame,
        model.name,
        target,
        col,
        no_change,
        cal.describe(),
        ppy,
        notes,
        level=interval,
        steps=table,
        recent=price_series(df, col).iloc[-(HISTORY + 1) :],
        log=variance or bool(model.target_spec.log),
    )
    figure = pred.plot() if plot is not None else None
    if out is not None:
        text = (
            frame.to_csv(float_format="%.10g")
            if table is None
            else table.to_csv(index=False, float_format="%.10g")
        )
        atomic_write_text(Path(out), text)
    if figure is not None:
        _write_figure(figure, Path(plot))  # type: ignore[arg-type]  # plot is set with figure
    return pred


def _check_plot(
    plot: str | Path, out: str | Path | None, interval: float | None, quantiles: Any
) -> None:
    """Refuse ``--plot`` without bands to draw, to a file type matplotlib is not asked to
    write, or onto ``--out``."""
    if interval is None and not quantiles:
        raise ConfigError(
            f"--plot {plot} draws the fan chart of the forecasts' bands: add --interval (e.g. "
            "0.9) or --quantiles (e.g. 0.05,0.25,0.75,0.95)"
        )
    if Path(plot).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ConfigError(f"--plot {plot}: name a .png, .svg or .pdf file")
    if out is not None and Path(plot).resolve() == Path(out).resolve():
        raise ConfigError(f"--plot {plot} is also --out: choose two files")


def _write_figure(fig: Figure, path: Path) -> None:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lower()[1:], dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _check_applies(
    model: Any,
    variance: bool,
    interval: float | None,
    quantiles: Sequence[float] | None,
    dist: str | None,
) -> None:
    """Refuse an interval option the model cannot take, before any forecast is made."""
    given = [
        name
        for name, v in (("--interval", interval), ("--quantiles", quantiles), ("--dist", dist))
        if v
    ]
    if not given:
        return
    if dist is not None and not variance:
        raise ConfigError(
            f"--dist {dist} shapes a variance model's predictive distribution; {model.name} "
            f"forecasts {model.target_spec.kind}: leave --dist out (its intervals are conformal)"
        )
    if dist is not None and not quantiles:
        raise ConfigError(
            "--dist gives a variance model's quantiles, VaR and ES: add --quantiles, e.g. "
            "--quantiles 0.01,0.05,0.5,0.95,0.99"
        )
    check_one_day_model(model, f"{' and '.join(given)} cover(s)", variance=variance)


def _on_or_before(index: pd.Index, last: str) -> np.ndarray:
    if not last:
        return np.zeros(len(index), dtype=bool)
    key: Any = pd.Timestamp(last) if isinstance(index, pd.DatetimeIndex) else type(index[0])(last)
    return np.asarray(index <= key)
