"""predict --interval/--quantiles: the calibration train records in the manifest, the ACI recursion
predict restarts from it, a variance model's Student-t quantiles, coverage on a GARCH path, and
the options refused where they do not apply."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data.synthetic import garch11
from gatecast.errors import ConfigError, ModelFileError
from gatecast.evaluation.intervals import adaptive_conformal
from gatecast.experiment.prediction import run_prediction
from gatecast.experiment.training import TrainJob, run_training

FAST = dict(cell="gru", hidden=4, layers=1, window=5, epochs=1, batch_size=0, patience=0)
FAST |= dict(device="cpu", quiet=True, seed=0)
runner = CliRunner()


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """A GARCH(1,1) price path of 1,600 business days."""
    return garch11(1600, seed=3)[["close"]]


def _csv(df: pd.DataFrame, where: Path) -> str:
    df.rename_axis("date").to_csv(where)
    return str(where)


@pytest.fixture(scope="module")
def return_model(path: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained on the first 600 rows (the last 150 its test part: the calibration)."""
    tmp = tmp_path_factory.mktemp("ret")
    data = _csv(path.iloc[:600], tmp / "train.csv")
    run_training(TrainJob(data=data, test_size=150, **FAST), tmp / "m", plots=False)
    return tmp / "m"


@pytest.fixture(scope="module")
def variance_model(path: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("var")
    data = _csv(path.iloc[:600], tmp / "train.csv")
    job = TrainJob(data=data, target="variance", test_size=150, **FAST)
    run_training(job, tmp / "m", plots=False)
    return tmp / "m"


def _garch_sd(doc: dict, close: pd.Series) -> pd.Series:
    """The GARCH(1,1) sd (log-return units) of each next day's return, by hand from the
    recorded parameters: row s holds the forecast made at s's close."""
    r = 100 * np.log(close).diff().to_numpy()
    b = doc["backcast"]
    s2 = doc["omega"] + doc["alpha"] * b + doc["beta"] * b
    out = np.full(len(r), np.nan)
    for t in range(1, len(r)):
        e = r[t] - doc["mu"]
        s2 = doc["omega"] + doc["alpha"] * e * e + doc["beta"] * s2
        out[t] = s2
    return pd.Series(np.sqrt(out) / 100, index=close.index)


def test_the_interval_is_the_aci_recursion_restarted_from_the_recorded_calibration(
    return_model, path, tmp_path
):
    manifest = json.loads((return_model / "manifest.json").read_text())
    rec = manifest["intervals"]
    assert rec["window"] == 150 and len(rec["scores"]) == 150
    assert rec["last"].startswith(str(path.index[599].date()))
    data = _csv(path.iloc[:700], tmp_path / "more.csv")
    pred = run_prediction(return_model, data, start=str(path.index[560].date()), interval=0.9)
    f = pred.frame
    # rows whose scores are in the calibration get none; the 100 after it and tomorrow do
    assert f["lower"].loc[: path.index[599]].isna().all()
    new = f.loc[f.index > path.index[599]]
    assert len(new) == 101 and new["lower"].notna().all()
    # the oracle: ACI over the recorded scores, then the new rows' scores, one at a time
    sd = _garch_sd(rec["garch"], path["close"].iloc[:700]).shift(1)
    sd = sd.reindex(new.index)
    sd.iloc[-1] = _garch_sd(rec["garch"], path["close"].iloc[:700]).iloc[-1]  # tomorrow
    actual = np.log(path["close"].iloc[:700]).diff().reindex(new.index)
    scores = pd.concat(
        [
            pd.Series(rec["scores"], index=range(150)),
            pd.Series(((actual - new["forecast"]).abs() / sd).to_numpy(), index=range(150, 251)),
        ]
    )
    q = adaptive_conformal(scores, alpha=0.1, gamma=rec["gamma"], calibration=150)["q"]
    want = new["forecast"] - q.iloc[150:].to_numpy() * sd
    np.testing.assert_allclose(new["lower"], want, rtol=1e-9)
    half = (new["upper"] - new["forecast"]).to_numpy()
    np.testing.assert_allclose(half, q.iloc[150:].to_numpy() * sd.to_numpy(), rtol=1e-9)
    # price units: the last close moved by the log-return bound
    last = path["close"].iloc[699]
    assert new["price_upper"].iloc[-1] == pytest.approx(last * math.exp(new["upper"].iloc[-1]))
    assert "90% interval of the return" in pred.last_line()


def test_quantiles_are_the_bounds_of_the_symmetric_intervals(return_model, path, tmp_path):
    data = _csv(path.iloc[:700], tmp_path / "more.csv")
    kw = dict(start=str(path.index[610].date()))
    both = run_prediction(return_model, data, interval=0.9, quantiles=(0.05, 0.5, 0.95), **kw)
    f = both.frame.dropna(subset=["lower"])
    np.testing.assert_allclose(f["q0.05"], f["lower"], rtol=1e-12)
    np.testing.assert_allclose(f["q0.95"], f["upper"], rtol=1e-12)
    np.testing.assert_allclose(f["q0.5"], f["forecast"], rtol=1e-12)
    # a 25% quantile is the lower bound of the 50% interval: narrower than the 90% one
    q25 = run_prediction(return_model, data, quantiles=(0.25,), **kw).frame["q0.25"]
    assert (q25.loc[f.index] > f["lower"]).all() and (q25.loc[f.index] < f["forecast"]).all()


@pytest.mark.slow
def test_walked_forward_the_90_percent_intervals_cover_within_a_binomial_band(
    return_model, path, tmp_path
):
    data = _csv(path, tmp_path / "all.csv")
    f = run_prediction(return_model, data, interval=0.9).frame.dropna(subset=["lower", "actual"])
    n = len(f)
    assert n == 1000
    hit = ((f["actual"] >= f["lower"]) & (f["actual"] <= f["upper"])).mean()
    band = 3 * math.sqrt(0.9 * 0.1 / n)  # +/- 3 binomial standard errors: 0.9 +/- 0.028
    assert abs(hit - 0.9) < band, hit


def test_a_variance_model_gives_student_t_quantiles_var_and_es(variance_model, path, tmp_path):
    manifest = json.loads((variance_model / "manifest.json").read_text())
    nu = manifest["intervals"]["nu"]
    assert 2 < nu < 500
    data = _csv(path.iloc[:650], tmp_path / "more.csv")
    pred = run_prediction(variance_model, data, interval=0.9, quantiles=(0.01, 0.5, 0.95), dist="t")
    last = pred.frame.iloc[-1]
    sd = math.sqrt(last["forecast"]) / 100
    unit = math.sqrt((nu - 2) / nu)  # a unit-variance t
    assert last["q0.01"] == pytest.approx(sd * stats.t.ppf(0.01, nu) * unit, rel=1e-12)
    assert last["q0.5"] == pytest.approx(0.0, abs=1e-15)
    assert last["var_0.99"] == pytest.approx(-sd * stats.t.ppf(0.01, nu) * unit, rel=1e-12)
    # ES at 97.5%: the mean of the t below its 2.5% quantile, by numerical integration
    lo = stats.t.ppf(0.025, nu)
    tail = stats.t.expect(lambda x: x, args=(nu,), ub=lo, conditional=True)
    assert last["es_0.975"] == pytest.approx(-sd * tail * unit, rel=1e-6)
    # the conformal interval around a zero mean is symmetric
    assert last["lower"] == pytest.approx(-last["upper"], rel=1e-12)
    normal = run_prediction(variance_model, data, quantiles=(0.01,), dist="normal").frame
    assert normal["q0.01"].iloc[-1] == pytest.approx(sd * stats.norm.ppf(0.01), rel=1e-12)


def test_the_manifest_checksum_covers_the_calibration(return_model, tmp_path, path):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(return_model, copy)
    m = json.loads((copy / "manifest.json").read_text())
    m["intervals"]["scores"][0] *= 10
    (copy / "manifest.json").write_text(json.dumps(m))
    data = _csv(path.iloc[:650], tmp_path / "more.csv")
    with pytest.raises(ModelFileError, match="does not match its own checksum"):
        run_prediction(copy, data, interval=0.9)


def test_options_that_do_not_apply_are_refused(return_model, path, tmp_path):
    data = _csv(path.iloc[:400], tmp_path / "d.csv")
    with pytest.raises(ConfigError, match=r"--interval 1\.5: an interval level is in"):
        run_prediction(return_model, data, interval=1.5)
    with pytest.raises(ConfigError, match="--dist t shapes a variance model's"):
        run_prediction(return_model, data, quantiles=(0.1,), dist="t")
    direction = run_training(
        TrainJob(data=data, target="direction", test_size=60, **FAST), tmp_path / "d", plots=False
    )
    assert "intervals" not in json.loads((tmp_path / "d" / "manifest.json").read_text())
    with pytest.raises(ConfigError, match=r"--quantiles cover.* this model forecasts direction"):
        run_prediction(direction.out, data, quantiles=(0.05, 0.95))
    two = TrainJob(data=data, horizon=2, test_size=60, **FAST)
    run_training(two, tmp_path / "h", plots=False)
    with pytest.raises(ConfigError, match="forecasts return over 2 day"):
        run_prediction(tmp_path / "h", data, interval=0.9)
    short = run_training(TrainJob(data=data, test_size=20, **FAST), tmp_path / "s", plots=False)
    assert any("fewer than 30" in n for n in short.notes)
    with pytest.raises(ConfigError, match="records no interval calibration"):
        run_prediction(tmp_path / "s", data, interval=0.9)
    # too few training rows for the GARCH(1,1) scale: the model trains, without intervals
    tiny = _csv(path.iloc[:90], tmp_path / "tiny.csv")
    few = run_training(TrainJob(data=tiny, test_size=30, **FAST), tmp_path / "t", plots=False)
    assert any("GARCH(1,1) scale cannot be fit" in n for n in few.notes)
    with pytest.raises(ConfigError, match="records no interval calibration"):
        run_prediction(tmp_path / "t", tiny, interval=0.9)
    res = runner.invoke(
        app,
        [
            *("predict", "--model", str(return_model), "--data", data),
            *("--out", str(tmp_path / "p.csv"), "--quantiles", "0.05;0.95"),
        ],
    )
    assert res.exit_code == 2 and "give comma-separated numbers" in res.output
    assert not (tmp_path / "p.csv").exists()
