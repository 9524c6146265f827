"""The direction target on a panel: the global direction model (GlobalRecurrentReturn with
target="direction"), gc.evaluate_panel(target="direction") and `gatecast evaluate --target
direction` on a panel: probabilities, Brier scores from the written forecasts, no leak, the run
folder and the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gatecast as gc
import gatecast.data.covariates as covariates_module
import gatecast.experiment.panel_covariates as panel_covariates_module
from gatecast.cli.app import app
from gatecast.errors import ConfigError
from gatecast.experiment.panel_evaluation import PanelEvaluationConfig
from gatecast.experiment.panel_returns import return_factories
from gatecast.experiment.run_reader import Run
from gatecast.models.baselines import AlwaysUp
from gatecast.models.recurrent.forecaster import RecurrentForecaster
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn

TINY = {"hidden": 4, "window": 5, "epochs": 1, "warm_epochs": 1, "device": "cpu"}
MODELS = "lstm,lstm_local,always_up,no_change,historical_mean,ar1"


def _frames(seed: int = 0) -> dict[str, pd.DataFrame]:
    days = pd.bdate_range("2010-01-01", periods=340, name="date")
    rng = np.random.default_rng(seed)
    out = {}
    for n, vol, drift in (("A", 1.0, 0.05), ("B", 2.0, -0.02), ("C", 0.7, 0.0)):
        r = 0.01 * (drift + vol * rng.standard_normal(len(days)))
        out[n] = pd.DataFrame({"close": 100 * np.exp(np.cumsum(r))}, index=days)
    return out


def _evaluate(frames: dict[str, pd.DataFrame], models: str = MODELS) -> gc.PanelEvaluation:
    return gc.evaluate_panel(
        frames,
        test_start="2011-01-03",
        target="direction",
        models=models,
        refit_every=40,
        min_train=200,
        mcs_reps=50,
        **TINY,
    )


def test_the_global_direction_model_forecasts_probabilities_and_saves(tmp_path: Path) -> None:
    frames = _frames()
    m = GlobalRecurrentReturn(target="direction", **TINY)
    m.fit({n: df.iloc[:200] for n, df in frames.items()})
    assert all(m.target_scalers_[n].kind == "none" for n in frames)  # a 0/1 target, unscaled
    fc = m.predict(frames, start=frames["A"].index[200])
    assert len(fc) == 3 * 140
    assert ((fc.forecast > 0) & (fc.forecast < 1)).all()
    view = m.for_instrument("B")
    assert isinstance(view, RecurrentForecaster) and view.target_spec.kind == "direction"
    again = GlobalRecurrentReturn.load(m.save(tmp_path / "g"), device="cpu")
    assert again.for_instrument("A").target_spec.kind == "direction"
    pd.testing.assert_frame_equal(again.predict(frames, start=frames["A"].index[200]), fc)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_the_stream_set_gives_predicts_probabilities(
    stream_panel, engine: str, tmp_path: Path
) -> None:
    frames = {n: df.iloc[:230] for n, df in _frames().items()}
    m = GlobalRecurrentReturn(target="direction", **TINY)
    m = GlobalRecurrentReturn.load(m.fit(frames).save(tmp_path / "g"), device="cpu")
    streamed = stream_panel(m.stream_set(engine), frames)  # the frames share one calendar
    ref = m.predict(frames)
    for n, df in frames.items():
        mine = streamed[n]  # dated by the next row
        want = ref[ref.instrument == n].set_index("date").forecast.reindex(df.index)
        ok = want.notna()
        assert ok.sum() > 150
        np.testing.assert_allclose(mine[ok], want[ok], rtol=1e-5, atol=1e-7)


def test_brier_scores_per_instrument_are_those_of_the_written_forecasts(tmp_path: Path) -> None:
    frames = _frames()
    res = _evaluate(frames)
    assert res.scores.loss == "brier" and res.scores.reference == "no_change"
    cfg = PanelEvaluationConfig(data=gc.load_panel(frames), target="direction", test_start="x")
    from gatecast.experiment.panel_evaluation import long_forecasts

    fc = long_forecasts(res.walk, frames, cfg.proxy, None, "direction")
    models = MODELS.split(",")
    assert ((fc[models] >= 0) & (fc[models] <= 1)).all().all()
    assert set(np.unique(fc["always_up"])) == {1.0}
    for n, df in frames.items():
        mine = fc[fc.instrument == n].dropna(subset=models)
        # actual: 1 where the instrument's close rose from its row before (as_of), else 0
        close = df["close"]
        up = (close.loc[mine.date].to_numpy() > close.loc[mine.as_of].to_numpy()).astype(float)
        np.testing.assert_array_equal(mine["actual"].to_numpy(), up)
        rows = res.table[res.table.instrument == n].set_index("model")
        ref = float(np.mean((mine["no_change"] - up) ** 2))
        for m in models:
            p = mine[m].to_numpy()
            brier = float(np.mean((p - up) ** 2))
            assert rows.loc[m, "brier"] == pytest.approx(brier, rel=1e-12)
            assert rows.loc[m, "ratio"] == pytest.approx(brier / ref, rel=1e-12)
            assert rows.loc[m, "hit_rate"] == pytest.approx(np.mean((p > 0.5) == (up > 0.5)))
            assert rows.loc[m, "n"] == len(mine)
    # always up: its Brier score is the share of days that were not up
    a = fc[fc.instrument == "A"].dropna(subset=models)
    share_down = float(np.mean(a["actual"] == 0))
    assert res.table.set_index(["instrument", "model"]).loc[("A", "always_up"), "brier"] == (
        pytest.approx(share_down, rel=1e-12)
    )
    summary = res.summary
    assert list(summary.index) == models
    ratios = res.table[res.table.model == "lstm"].ratio
    assert summary.loc["lstm", "median_ratio"] == pytest.approx(float(ratios.median()))
    assert {"median_brier", "median_hit_rate", "wins", "losses", "in_mcs"} <= set(summary)


def test_prices_moved_after_d_change_no_forecast_up_to_d() -> None:
    """Change one instrument's prices after a date D: no forecast for a date up to D changes,
    for any model or instrument (the global model shares weights across instruments, and the
    refit after D reads the moved rows); that instrument's later forecasts do change, and the
    per-instrument models of the others do not."""
    frames = _frames()
    models = "lstm,lstm_local,no_change,ar1"
    base = _evaluate(frames, models).walk.forecasts
    day = pd.Timestamp("2011-02-15")
    moved = {n: df.copy() for n, df in frames.items()}
    after = moved["B"].index > day
    moved["B"].loc[after, "close"] *= np.exp(0.05 * np.arange(1, after.sum() + 1))
    changed = _evaluate(moved, models).walk.forecasts
    up_to = base.index.get_level_values("date") <= day
    assert up_to.sum() > 3 * 20 and (~up_to).sum() > 3 * 20
    pd.testing.assert_frame_equal(changed[up_to], base[up_to])
    instrument = base.index.get_level_values("instrument")
    b_later, a_later = ~up_to & (instrument == "B"), ~up_to & (instrument == "A")
    for m in ("lstm", "lstm_local", "ar1"):
        assert not np.allclose(changed.loc[b_later, m], base.loc[b_later, m], rtol=1e-9), m
    for m in ("lstm_local", "no_change", "ar1"):
        np.testing.assert_array_equal(changed.loc[a_later, m], base.loc[a_later, m])


def test_names_defaults_and_refusals() -> None:
    f = return_factories(["lstm", "lstm_local", "always_up"], "direction", window=7)
    g = f["lstm"]()
    assert isinstance(g, GlobalRecurrentReturn) and g.target == "direction"
    assert f["lstm_local"]().target_spec.kind == "direction"
    assert isinstance(f["always_up"](), AlwaysUp)
    cfg = PanelEvaluationConfig(data=_frames(), target="direction", test_start="2011-01-03")
    assert cfg.models == ("lstm", "always_up", "no_change", "historical_mean", "ar1")
    assert (cfg.window, cfg.reference) == (22, "no_change")
    with pytest.raises(ConfigError, match="cannot forecast a direction target"):
        return_factories(["gjr_t"], "direction")
    with pytest.raises(ConfigError, match="always_up cannot forecast a return target"):
        return_factories(["always_up"], "return")
    with pytest.raises(ConfigError, match="--proxy parkinson does not apply: a direction"):
        gc.evaluate_panel(_frames(), test_start="2011-01-03", target="direction", proxy="parkinson")
    with pytest.raises(ConfigError, match="variance, return and direction targets"):
        gc.evaluate_panel(_frames(), test_start="2011-01-03", target="price")
    with pytest.raises(ConfigError, match="one-step return or its direction"):
        GlobalRecurrentReturn(target="price")


def test_the_confidence_set_takes_models_that_agree_every_day() -> None:
    """Two 0/1 forecasts that agree every day have equal losses: the MCS gives both the
    verdict of the set computed with one of them (arch divides by their zero variance)."""
    from gatecast.evaluation.significance import model_confidence_set

    rng = np.random.default_rng(3)
    d = (rng.standard_normal(200) > 0).astype(float)
    losses = pd.DataFrame(
        {
            "always_up": (1 - d) ** 2,
            "p": (0.5 + 0.3 * d - 0.15 - d) ** 2,
            "half": np.full(200, 0.25),
        }
    )
    losses["ar1"] = losses["always_up"]  # an AR(1) whose forecast is up every day
    alone = model_confidence_set(losses.drop(columns="ar1"), reps=200)
    both = model_confidence_set(losses, reps=200)
    pd.testing.assert_frame_equal(both.drop(index="ar1"), alone)
    assert both.loc["ar1"].to_dict() == both.loc["always_up"].to_dict()
    same = model_confidence_set(losses[["always_up", "ar1"]], reps=200)
    assert same["in_mcs"].all() and (same["pvalue"] == 1.0).all()


@pytest.fixture
def synthetic_vix(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``vix`` group reads a synthetic series (no bundled data needed)."""
    days = pd.bdate_range("2009-12-01", periods=400, name="date")
    x = np.random.default_rng(1).standard_normal(400).cumsum() * 0.05 + 3.0
    vix = pd.DataFrame({"vix_log": x}, index=days)
    real = covariates_module.covariate_values

    def fake(name: str) -> tuple[pd.DataFrame, int]:
        return (vix, 0) if name == "vix" else real(name)

    monkeypatch.setattr(covariates_module, "covariate_values", fake)
    monkeypatch.setattr(panel_covariates_module, "covariate_values", fake)


@pytest.mark.usefixtures("synthetic_vix")
def test_covariates_make_the_ablation_on_brier_scores() -> None:
    """With covariates the direction models become the return target's ablation: lstm beside
    lstm+vix, ar1 beside arx+vix (ARX's sign), compared on Brier scores."""
    res = gc.evaluate_panel(
        _frames(),
        test_start="2011-01-03",
        target="direction",
        models="lstm,no_change,ar1",
        covariates="vix",
        refit_every=40,
        min_train=200,
        mcs_reps=50,
        **TINY,
    )
    fc = res.walk.forecasts
    assert list(fc.columns) == ["lstm", "lstm+vix", "no_change", "ar1", "arx+vix"]
    assert ((fc["lstm+vix"] > 0) & (fc["lstm+vix"] < 1)).all()
    assert fc["arx+vix"].isin([0.0, 1.0]).all()
    assert res.ablation is not None and list(res.ablation.index) == ["lstm+vix", "arx+vix"]
    table = res.table.set_index(["instrument", "model"])
    ratio = table.xs("arx+vix", level="model").brier / table.xs("ar1", level="model").brier
    assert res.ablation.loc["arx+vix", "ratio_to_without"] == pytest.approx(ratio.median())


runner = CliRunner()


def _long_csv(path: Path) -> Path:
    parts = [
        df.reset_index().assign(ticker=n, date=lambda d: d.date.dt.strftime("%Y-%m-%d"))
        for n, df in _frames().items()
    ]
    pd.concat(parts).to_csv(path, index=False)
    return path


def _cli(csv: Path, out: Path, *extra: str) -> object:
    args = ["evaluate", "--data", str(csv), "--panel", "--target", "direction"]
    args += ["--models", "lstm,always_up,no_change", "--window", "5", "--test-start", "2011-01-03"]
    args += ["--hidden", "4", "--epochs", "1", "--warm-epochs", "1", "--refit-every", "40"]
    return runner.invoke(app, [*args, "--out", str(out), *extra])


def test_the_command_line_writes_a_run_folder_run_open_reads(tmp_path: Path) -> None:
    csv, out = _long_csv(tmp_path / "long.csv"), tmp_path / "run"
    res = _cli(csv, out)
    assert res.exit_code == 0, res.output
    assert "per instrument: BRIER ratio to no_change" in res.output
    run = Run.open(out)
    assert (run.kind, run.status) == ("panel-evaluate", "finished")
    metrics = run.json("metrics.json")
    assert (metrics["target"], metrics["loss"], metrics["reference"]) == (
        "direction",
        "brier",
        "no_change",
    )
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "BRIER ratio to" in page and "QLIKE" not in page
    table = run.table("per_instrument")
    assert len(table) == 3 * 3 and {"brier", "hit_rate", "ratio"} <= set(table.columns)
    fc = run.table("forecasts")
    assert fc["actual"].isin([0.0, 1.0]).all()
    assert ((fc["lstm"] > 0) & (fc["lstm"] < 1)).all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--proxy", "parkinson"], "--proxy does not apply to a panel"),
        (["--models", "gjr_t,no_change"], "gjr_t cannot forecast a direction target"),
    ],
)
def test_options_that_do_not_apply_exit_2_and_write_nothing(
    tmp_path: Path, extra: list[str], message: str, refused
) -> None:
    csv, out = _long_csv(tmp_path / "long.csv"), tmp_path / "run"
    refused(_cli(csv, out, *extra), message, out)
