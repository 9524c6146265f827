"""Panels: one instrument per series, each on its own calendar; long, wide and several files
read alike; per-instrument splits, scalers, windows and a strictly-before as-of join."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gatecast as gc
from gatecast.data import load
from gatecast.data import panel as panel_module
from gatecast.data.panel import Panel, load_panel, panel_datasets
from gatecast.data.per_instrument import asof_join, fit_panel_scalers, panel_windows, split_panel
from gatecast.errors import (
    DuplicateDatesError,
    MissingValueError,
    NonPositivePriceError,
    PanelError,
    UnknownDatasetError,
    UnsortedDatesError,
)

FAST = settings(deadline=None, max_examples=60)
HAS_SKFOLIO = importlib.util.find_spec("skfolio") is not None

DAYS = pd.bdate_range("2020-01-01", periods=12)
#: Two instruments on different calendars: B starts later and skips a day A trades.
A = pd.Series(np.linspace(10.0, 12.0, 12), index=DAYS)
B = pd.Series(np.linspace(50.0, 45.0, 8), index=DAYS[3:].delete(4))


def _long() -> pd.DataFrame:
    rows = [(d, "A", v) for d, v in A.items()] + [(d, "B", v) for d, v in B.items()]
    rows.sort(key=lambda r: (r[0], r[1]))  # interleaved by date, as exports often are
    return pd.DataFrame(
        {
            "Date": [r[0].strftime("%Y-%m-%d") for r in rows],
            "Ticker": [r[1] for r in rows],
            "Close": [r[2] for r in rows],
        }
    )


def _expected() -> pd.DataFrame:
    return pd.concat(
        {"A": A.rename("close").to_frame(), "B": B.rename("close").to_frame()},
        names=["instrument", "date"],
    ).rename_axis(["instrument", "date"])


def _same(p: Panel) -> None:
    got = p.to_long()
    exp = _expected()
    assert p.instruments == ["A", "B"]
    assert list(got.index) == list(exp.index)  # no row added, none lost, same order
    np.testing.assert_allclose(got["close"].to_numpy(), exp["close"].to_numpy(), rtol=1e-12)


def test_long_wide_files_and_frames_give_the_same_panel(tmp_path: Path) -> None:
    long = _long()
    long.to_csv(tmp_path / "long.csv", index=False)
    long.to_parquet(tmp_path / "long.parquet")
    wide = pd.concat({"A": A, "B": B}, axis=1).rename_axis("date")
    wide.to_csv(tmp_path / "wide.csv")  # B's days off are empty cells
    files = tmp_path / "files"
    files.mkdir()
    A.rename("close").rename_axis("date").to_csv(files / "A.csv")
    B.rename("close").rename_axis("date").to_frame().to_parquet(files / "B.parquet")
    for source in (
        tmp_path / "long.csv",
        tmp_path / "long.parquet",
        long,
        tmp_path / "wide.csv",
        wide,
        [files / "A.csv", files / "B.parquet"],
        files,
        {"A": A.rename("close"), "B": B.rename("close")},
    ):
        _same(load_panel(source))
    # the long view read back is the same panel again
    _same(load_panel(load_panel(long).to_long()))


def test_unaligned_calendars_are_kept_no_row_is_invented(tmp_path: Path) -> None:
    p = load_panel(_long())
    assert list(p["B"].index) == list(B.index)  # DAYS[7] is absent for B, not filled
    assert DAYS[7] not in p["B"].index and DAYS[7] in p["A"].index
    wide = p.to_wide()
    assert np.isnan(wide.loc[DAYS[7], "B"]) and np.isnan(wide.loc[DAYS[0], "B"])
    arch = load_panel("arch_panel")
    wti = load("wti").dropna()
    assert list(arch["wti"].index) == list(wti.index)
    assert arch["wti"].attrs["dropped"] == len(load("wti")) - len(wti)
    assert arch["sp500"].index[0] > arch["wti"].index[0]  # different ranges, kept
    assert not arch["sp500"].index.equals(arch["wti"].index)


def test_a_long_file_with_a_repeated_instrument_date_is_refused_by_instrument_and_row(
    tmp_path: Path,
) -> None:
    long = _long()
    dup = pd.concat([long, long.iloc[[5]]], ignore_index=True)
    dup.to_csv(tmp_path / "dup.csv", index=False)
    row = long.iloc[5]
    with pytest.raises(
        DuplicateDatesError,
        match=rf"dup.csv: instrument '{row['Ticker']}' has {row['Date']} twice, on rows 7 and "
        rf"{len(dup) + 1}",
    ):
        load_panel(tmp_path / "dup.csv")


def test_a_panel_file_given_to_load_is_pointed_to_load_panel(tmp_path: Path) -> None:
    _long().to_csv(tmp_path / "long.csv", index=False)
    with pytest.raises(
        DuplicateDatesError, match=r"column 'ticker' names 2 instruments.*load_panel"
    ):
        load(tmp_path / "long.csv")


def test_an_instrument_out_of_order_is_refused_unless_sort(tmp_path: Path) -> None:
    long = _long()
    swapped = long.copy()
    a_rows = np.flatnonzero(long["Ticker"] == "A")
    swapped.iloc[[a_rows[2], a_rows[3]]] = long.iloc[[a_rows[3], a_rows[2]]].to_numpy()
    swapped.to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(UnsortedDatesError, match=r"instrument 'A' is not sorted by date: row"):
        load_panel(tmp_path / "s.csv")
    _same(load_panel(tmp_path / "s.csv", sort=True))


def test_bad_prices_are_refused_naming_instrument_and_date(tmp_path: Path) -> None:
    long = _long()
    at = int(np.flatnonzero(long["Ticker"] == "B")[2])
    neg = long.copy()
    neg.loc[at, "Close"] = -1.0
    with pytest.raises(
        NonPositivePriceError, match=rf"instrument 'B'.* -1 on {neg.loc[at, 'Date']}"
    ):
        load_panel(neg)
    gap = long.copy()
    gap.loc[at, "Close"] = np.nan
    with pytest.raises(MissingValueError, match=rf"instrument 'B'.*first on {gap.loc[at, 'Date']}"):
        load_panel(gap)
    p = load_panel(gap, dropna=True)
    assert len(p["B"]) == len(B) - 1 and p["B"].attrs["dropped"] == 1 and len(p["A"]) == len(A)
    wide = pd.concat({"A": A, "B": B}, axis=1).rename_axis("date").astype(object)
    wide.iloc[9, 1] = "n/a"
    with pytest.raises(MissingValueError, match=r"instrument 'B' holds 'n/a' on 2020-01-14"):
        load_panel(wide)


def test_layout_refusals_say_what_to_do(tmp_path: Path) -> None:
    one = pd.DataFrame({"date": DAYS, "open": A.to_numpy(), "close": A.to_numpy()})
    with pytest.raises(PanelError, match=r"looks like one instrument's prices.*gatecast.load"):
        load_panel(one)
    with pytest.raises(PanelError, match=r"has no instrument column"):
        load_panel(one, layout="long")
    blank = _long()
    blank.loc[3, "Ticker"] = ""
    with pytest.raises(PanelError, match=r"column 'ticker', position 3: no instrument named"):
        load_panel(blank)
    (tmp_path / "x").mkdir()
    A.rename("close").rename_axis("date").to_csv(tmp_path / "A.csv")
    A.rename("close").rename_axis("date").to_csv(tmp_path / "x" / "A.csv")
    with pytest.raises(PanelError, match=r"both name instrument 'A'"):
        load_panel([tmp_path / "A.csv", tmp_path / "x" / "A.csv"])
    with pytest.raises(UnknownDatasetError, match=r"no bundled panel 'sp600'"):
        load_panel("bundled:sp600")
    with pytest.raises(UnknownDatasetError, match=r"'sp500' is one bundled series.*'sp500'"):
        load_panel("sp500")
    with pytest.raises(PanelError, match=r"'sp500' prices from 'adj_close' but 'wti' from 'close'"):
        load_panel({"sp500": "sp500", "wti": "bundled:wti"}, dropna=True)
    two = load_panel({"sp500": "sp500", "wti": "bundled:wti"}, column="close", dropna=True)
    assert two.instruments == ["sp500", "wti"] and two["wti"].attrs["dropped"] == 290
    with pytest.raises(PanelError, match=r"a Series is one instrument"):
        load_panel(A)


def test_sp500_stocks_without_skfolio_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(panel_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UnknownDatasetError, match=r"pip install 'gatecast\[panel\]'"):
        load_panel("sp500_stocks")
    table = panel_datasets()
    assert "NOT INSTALLED" in table.loc["sp500_stocks", "description"]
    assert table.loc["arch_panel", "rows"] == load_panel("arch_panel").rows


@pytest.mark.skipif(not HAS_SKFOLIO, reason="skfolio (extra [panel]) is not installed")
def test_the_skfolio_panel_loads_20_stocks_from_the_installed_file() -> None:
    p = gc.load_panel("sp500_stocks")
    assert len(p) == 20 and {"AAPL", "XOM", "JPM"} <= set(p.instruments)
    summary = p.summary()
    assert (summary["first"] == "1990-01-02").all() and (summary["last"] == "2022-12-28").all()
    assert p.rows == 20 * 8313
    # read from skfolio's own file: the values agree with its loader's documented head
    assert p["AAPL"]["close"].iloc[0] == pytest.approx(0.264)
    assert p["AMD"]["close"].iloc[1] == pytest.approx(4.0)


# -- per-instrument helpers ------------------------------------------------------------------


@st.composite
def calendars(draw: st.DrawFn) -> dict[str, pd.DatetimeIndex]:
    """2-4 instruments, each a random subset of 60 business days (unaligned calendars)."""
    days = pd.bdate_range("2021-01-01", periods=60)
    out = {}
    for k in range(draw(st.integers(2, 4))):
        keep = draw(st.lists(st.booleans(), min_size=60, max_size=60))
        chosen = days[np.asarray(keep)]
        if len(chosen) < 12:
            chosen = days[k : k + 20]
        out[f"I{k}"] = chosen
    return out


@FAST
@given(cal=calendars(), window=st.integers(1, 5), horizon=st.integers(1, 3))
def test_windows_never_cross_instruments(
    cal: dict[str, pd.DatetimeIndex], window: int, horizon: int
) -> None:
    ids = {name: k for k, name in enumerate(cal)}
    features = {
        n: pd.DataFrame({"id": float(ids[n]), "pos": np.arange(len(d), dtype=float)}, index=d)
        for n, d in cal.items()
    }
    targets = {n: pd.Series(np.arange(len(d), dtype=float), index=d) for n, d in cal.items()}
    w = panel_windows(features, targets, window, horizon)
    assert len(w) == sum(len(d) - window - horizon + 1 for d in cal.values())
    for k in range(len(w)):
        name = w.instrument[k]
        assert (w.X[k, :, 0] == ids[name]).all()  # every row of the window is this instrument's
        pos = w.X[k, :, 1]
        np.testing.assert_array_equal(np.diff(pos), 1.0)  # consecutive in its own calendar
        target_row = int(pos[-1]) + horizon  # its own row, horizon rows on
        assert w.y[k] == target_row and w.index[k] == cal[name][target_row]
    assert len(w.of("I0")) == len(cal["I0"]) - window - horizon + 1


@FAST
@given(cal=calendars(), cut=st.integers(15, 45))
def test_split_puts_no_row_at_or_after_test_start_into_training(
    cal: dict[str, pd.DatetimeIndex], cut: int
) -> None:
    test_start = pd.bdate_range("2021-01-01", periods=60)[cut]
    usable = {n: d for n, d in cal.items() if (d < test_start).any() and (d >= test_start).any()}
    if not usable:
        return
    splits = split_panel(usable, test_start=test_start)
    for name, d in usable.items():
        s = splits[name]
        assert (s.train < test_start).all() and (s.test >= test_start).all()
        assert list(s.train.append(s.test)) == list(d)  # each instrument's own rows, all of them


def test_split_refuses_an_instrument_with_nothing_to_train_on() -> None:
    p = load_panel(_long())
    with pytest.raises(Exception, match=r"instrument 'B': test_start .* nothing is left to train"):
        split_panel(p, test_start=DAYS[3])


@FAST
@given(
    cal=calendars(),
    cut=st.integers(15, 45),
    seed=st.integers(0, 2**16),
    kind=st.sampled_from(["standard", "minmax"]),
)
def test_scalers_are_fit_on_each_instruments_training_rows_only(
    cal: dict[str, pd.DatetimeIndex], cut: int, seed: int, kind: str
) -> None:
    test_start = pd.bdate_range("2021-01-01", periods=60)[cut]
    usable = {
        n: d for n, d in cal.items() if (d < test_start).sum() >= 2 and (d >= test_start).any()
    }
    if not usable:
        return
    rng = np.random.default_rng(seed)
    frames = {n: pd.DataFrame({"x": rng.normal(size=len(d))}, index=d) for n, d in usable.items()}
    splits = split_panel(frames, test_start=test_start)
    before = fit_panel_scalers(kind, frames, splits)
    # change every test-period value, of every instrument, wildly
    moved = {
        n: df.where((df.index < test_start)[:, None], df * 1e6 + 17.0) for n, df in frames.items()
    }
    after = fit_panel_scalers(kind, moved, splits)
    for name, df in frames.items():
        train = df.loc[df.index < test_start, "x"].to_numpy()
        shift = train.mean() if kind == "standard" else train.min()
        assert after[name].to_dict() == before[name].to_dict()
        assert before[name].to_dict()["shift"][0] == pytest.approx(shift, rel=1e-12, abs=1e-12)


@st.composite
def covariates(draw: st.DrawFn) -> pd.Series:
    days = pd.date_range("2021-01-01", periods=70, freq="D")
    keep = np.asarray(draw(st.lists(st.booleans(), min_size=70, max_size=70)))
    keep[0] = True
    values = draw(st.lists(st.floats(-100, 100, allow_nan=False), min_size=70, max_size=70))
    return pd.Series(np.asarray(values)[keep], index=days[keep], name="vix")


def _oracle(dates: pd.DatetimeIndex, cov: pd.Series, max_age: pd.Timedelta) -> list[object]:
    """For each date, the last covariate date strictly before it and no older than max_age."""
    out: list[object] = []
    for t in dates:
        before = cov.index[(cov.index < t) & (cov.index >= t - max_age)]
        out.append(before[-1] if len(before) else pd.NaT)
    return out


@FAST
@given(
    cal=calendars(),
    cov=covariates(),
    cut=st.integers(0, 69),
    max_age=st.sampled_from(["3D", "7D"]),
)
def test_asof_join_never_uses_a_value_dated_at_or_after_the_row(
    cal: dict[str, pd.DatetimeIndex], cov: pd.Series, cut: int, max_age: str
) -> None:
    D = pd.date_range("2021-01-01", periods=70, freq="D")[cut]
    joined = asof_join(cal, cov, max_age=max_age)
    # change every covariate value dated on or after D
    moved = cov.where(cov.index < D, cov + 1000.0)
    again = asof_join(cal, moved, max_age=max_age)
    for name, dates in cal.items():
        assert list(joined[name]["asof_date"]) == _oracle(dates, cov, pd.Timedelta(max_age))
        used = joined[name]["asof_date"].dropna()
        assert (used < used.index).all()  # strictly before the row's date
        upto = dates <= D
        pd.testing.assert_frame_equal(joined[name].loc[upto], again[name].loc[upto])
        expect = cov.reindex(joined[name]["asof_date"]).to_numpy()
        np.testing.assert_array_equal(joined[name]["vix"].to_numpy(), expect)


def test_asof_join_on_the_arch_panel_takes_the_last_vix_before_each_day() -> None:
    p = load_panel("arch_panel")
    vix = load("vix")["close"].dropna().rename("vix")
    joined = asof_join(p, vix)
    first = joined["sp500"].loc["2014-01-06"]
    assert first["asof_date"] == pd.Timestamp("2014-01-03")  # Friday's close, on Monday
    assert first["vix"] == vix.loc["2014-01-03"]
    assert np.isnan(joined["sp500"].loc["2014-01-03", "vix"])  # VIX begins that day: none before
    assert joined["sp500"].loc["2018-06-01", "asof_date"] == pd.Timestamp("2018-05-31")
    assert joined["wti"].loc[:"2013-12-31", "vix"].isna().all()  # no value before VIX begins
    with pytest.raises(MissingValueError, match=r"NaN/inf on 2014-01-06.*dropna"):
        asof_join(p, vix.where(vix.index != "2014-01-06"))
