"""Global models in sequence mode: the single-series sequence model as the one-instrument case,
the validation loss recomputed from the forecasts, per-instrument scalers and levels from
training rows only, no look-ahead, save/load, streams and the refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gatecast.data.volatility import QLIKE_FLOOR, percent_returns
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.models.recurrent import sequence
from gatecast.models.recurrent.forecaster import RecurrentForecaster
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance
from gatecast.serve import StreamSet
from gatecast.serve.global_numpy import load_global_numpy


def _prices(seed: int, n: int, start: str, vol: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(n) * 0.01 * vol
    idx = pd.bdate_range(start, periods=n, name="date")
    return pd.DataFrame({"close": 100 * np.exp(np.cumsum(r))}, index=idx)


def _panel() -> dict[str, pd.DataFrame]:
    # unaligned calendars and very different levels: a mixed-up lane or scaler would show
    return {
        "A": _prices(0, 260, "2010-01-01", 1.0),
        "B": _prices(1, 240, "2010-02-15", 4.0),
        "C": _prices(2, 250, "2009-11-02", 0.5).drop(pd.bdate_range("2010-03-01", "2010-03-12")),
    }


SETTINGS: dict[str, object] = {
    "hidden": 4,
    "epochs": 3,
    "device": "cpu",
    "seed": 0,
    "mode": "sequence",
    "chunks": 6,
    "chunk_len": 8,
    "burn_in": 5,
}


def _variance(**kw: object) -> GlobalRecurrentVariance:
    return GlobalRecurrentVariance(**(SETTINGS | kw))  # type: ignore[arg-type]


def _return(**kw: object) -> GlobalRecurrentReturn:
    return GlobalRecurrentReturn(**(SETTINGS | kw))  # type: ignore[arg-type]


def _weights(m: object) -> dict[str, np.ndarray]:
    return m.warm_state()  # type: ignore[attr-defined, no-any-return]


def _same_weights(a: object, b: object) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


def test_one_instrument_is_the_single_series_sequence_model() -> None:
    # The same computation: one instrument's scalers are the single-series model's (feature
    # rows up to the last training target, the training targets), its lanes the same cuts of
    # the same rows, trained by the same loop (models.recurrent.sequence.train_lanes) from the
    # same seed, so the weights agree exactly and the forecasts to float32 rounding.
    data = _prices(3, 300, "2010-01-01", 1.0)
    settings = {k: v for k, v in SETTINGS.items()}
    single = RecurrentForecaster(**settings).fit(data)  # type: ignore[arg-type]
    pooled = _return().fit({"X": data})
    assert _same_weights(single, pooled)
    got = pooled.predict({"X": data}).set_index("date").forecast
    want = single.predict(data)
    assert got.index.equals(want.index) and len(want) > 250  # stateful: from the first row
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-6, atol=0)


def test_every_lane_lies_inside_one_instrument(monkeypatch: pytest.MonkeyPatch) -> None:
    # With the embedding each step carries its instrument's one-hot: a lane that crossed two
    # instruments would carry two. The lanes cover every training row of every instrument once.
    seen: list[Any] = []
    real = sequence.train_sequence_loop

    def spy(net: Any, lanes: Any, *args: Any, **kw: Any) -> Any:
        seen.append(lanes)
        return real(net, lanes, *args, **kw)

    monkeypatch.setattr(sequence, "train_sequence_loop", spy)
    panel = _panel()
    m = _variance(embedding=True, epochs=1).fit(panel)
    (lanes,) = seen
    hot = lanes.x[:, :, -len(panel) :].numpy()
    rows = dict.fromkeys(panel, 0)
    for k, n in enumerate(lanes.lengths):
        owners = set(hot[k, :n].argmax(axis=1))
        assert len(owners) == 1 and (hot[k, :n].sum(axis=1) == 1).all(), k
        rows[list(panel)[owners.pop()]] += int(n)
    for name, df in panel.items():
        end = pd.Timestamp(m.train_ranges_[name][1])
        # training targets: from the row after the first input with a value (log_rv22) to the end
        assert rows[name] == int(((df.index > df.index[22]) & (df.index <= end)).sum()), name


@pytest.mark.parametrize("embedding", [False, True], ids=["plain", "embedding"])
def test_the_variance_models_validation_loss_is_the_qlike_of_its_forecasts(
    embedding: bool,
) -> None:
    # The last epoch's validation loss (patience=0: the last epoch's weights are kept) is the
    # mean QLIKE of the forecasts over every instrument's validation tail (the dates after its
    # training range), recomputed here from predict (each instrument's folded view, its level
    # and embedding in the biases) and the squared percent return. QLIKE is scale-free, so
    # the level cancels; a lane crossing two instruments, a wrong scaler, level or one-hot,
    # or a view that ran as window mode would not give the trained loss.
    panel = _panel()
    m = _variance(embedding=embedding, patience=0).fit(panel)
    fc = m.predict(panel)
    losses = []
    for n, df in panel.items():
        f = fc[fc.instrument == n].set_index("date").forecast
        proxy = (percent_returns(df) ** 2).clip(lower=QLIKE_FLOOR).reindex(f.index)
        tail = f.index > pd.Timestamp(m.train_ranges_[n][1])
        ratio = (proxy / f)[tail].to_numpy()
        assert 20 < len(ratio) < 60, n
        losses.append(ratio - np.log(ratio) - 1.0)
    want = np.concatenate(losses).mean()
    assert m.result_ is not None
    np.testing.assert_allclose(m.result_.history["val_loss"][-1], want, rtol=1e-4)


@pytest.mark.parametrize("factory", [_variance, _return], ids=["variance", "return"])
def test_the_validation_tails_are_window_modes(factory: object) -> None:
    panel = _panel()
    seq = factory(epochs=1).fit(panel)  # type: ignore[operator]
    win = factory(epochs=1, mode="window").fit(panel)  # type: ignore[operator]
    assert seq.train_ranges_ == win.train_ranges_


def test_scalers_and_levels_come_from_each_instruments_training_rows() -> None:
    # patience=0: the validation tail only reports a loss. Rows after an instrument's training
    # range (its validation tail) move no scaler, no level and no weight: same path, same bytes.
    panel = _panel()
    m = _variance(patience=0).fit(panel)
    moved = dict(panel)
    end = pd.Timestamp(m.train_ranges_["B"][1])
    b = panel["B"].copy()
    b.loc[b.index > end, "close"] *= np.exp(np.linspace(0.0, 0.5, int((b.index > end).sum())))
    moved["B"] = b
    again = _variance(patience=0).fit(moved)
    assert _same_weights(m, again)
    assert again.levels_ == m.levels_
    for n in panel:
        assert again.scalers_[n].to_dict() == m.scalers_[n].to_dict()
    # and each instrument's level is the mean of its own training targets
    for n, df in panel.items():
        r2 = (percent_returns(df) ** 2).clip(lower=QLIKE_FLOOR)
        first, last = (pd.Timestamp(d) for d in m.train_ranges_[n])
        # the first target follows the first input row with a value (log_rv22: 22 returns)
        targets = r2.loc[(r2.index > r2.index[22]) & (r2.index <= last)]
        assert first == df.index[0]
        np.testing.assert_allclose(m.levels_[n], targets.mean(), rtol=1e-12)


def test_a_change_after_d_changes_no_forecast_up_to_d() -> None:
    panel = _panel()
    m = _return().fit(panel)
    d = pd.Timestamp("2010-08-02")
    moved = {n: df.copy() for n, df in panel.items()}
    for df in moved.values():
        df.loc[df.index >= d, "close"] *= 1.3
    before = m.predict(panel)
    after = m.predict(moved)
    upto = before.date <= d
    assert upto.sum() > 300
    np.testing.assert_array_equal(after[upto].forecast, before[upto].forecast)
    assert not np.allclose(after[~upto].forecast, before[~upto].forecast)


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    panel = _panel()
    assert _same_weights(_return().fit(panel), _return().fit(panel))
    assert not _same_weights(_return().fit(panel), _return(seed=1).fit(panel))


@pytest.mark.parametrize("factory", [_variance, _return], ids=["variance", "return"])
def test_save_load_is_exact_and_stays_a_sequence_model(factory: object, tmp_path: Path) -> None:
    panel = _panel()
    m = factory(embedding=True).fit(panel)  # type: ignore[operator]
    m.save(tmp_path / "m")
    back = type(m).load(tmp_path / "m", device="cpu")
    assert (back.mode, back.chunks, back.chunk_len, back.burn_in) == ("sequence", 6, 8, 5)
    assert _same_weights(m, back)
    pd.testing.assert_frame_equal(back.predict(panel), m.predict(panel))
    assert back.for_instrument("A").spec_.mode == "sequence"
    # the NumPy loader runs the same stateful forecasts (float64 vs float32: rounding)
    numpy = load_global_numpy(tmp_path / "m").predict(panel)
    np.testing.assert_allclose(numpy.forecast, m.predict(panel).forecast, rtol=1e-5)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_the_stream_set_carries_the_state_as_predict_runs(
    stream_panel: Callable[[StreamSet, dict[str, pd.DataFrame]], dict[str, pd.Series]], engine: str
) -> None:
    panel = _panel()
    m = _variance().fit(panel)
    ref = m.predict(panel)
    for n, got in stream_panel(m.stream_set(engine), panel).items():
        want = ref[ref.instrument == n].set_index("date").forecast.reindex(got.index)
        ok = want.notna()
        assert ok.sum() > 200, n
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=0)


def test_a_new_instrument_is_forecast_from_its_history() -> None:
    panel = _panel()
    m = _variance().fit({n: panel[n] for n in ("A", "B")})
    start = panel["C"].index[100]
    fc = m.predict({"C": panel["C"]}, start=start)
    assert len(fc) > 100 and np.isfinite(fc.forecast).all()


def test_bad_settings_and_short_instruments_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="mode"):
        _variance(mode="lanes")
    with pytest.raises(ConfigError, match="chunk_len=0"):
        _return(chunk_len=0)
    panel = _panel()
    panel["D"] = panel["A"].iloc[:30]
    with pytest.raises(TooFewRowsError, match=r"'D' has 30 rows.*burn_in=5"):
        _variance().fit(panel)
