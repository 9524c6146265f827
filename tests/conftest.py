"""Suite-wide settings: one torch thread (the nets here are tiny; on a shared 2-core machine extra
intra-op threads only oversubscribe the CPU and slow every test down), and the per-module test
scope of `make mutate`; no model-signing settings from the environment."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from click.testing import Result

if TYPE_CHECKING:
    from gatecast.serve import StreamSet

#: `make mutate` (mutmut): the tests (files, or file::test prefixes) that judge a mutant of each
#: module. mutmut already runs only the tests that call the mutated function; this keeps
#: end-to-end tests that merely pass through a module (a training run that fits a scaler) out of
#: that module's verdict, so that each mutant costs seconds. A module's own tests and the pins of
#: the leaderboard decide.
MUTATION_SCOPE: dict[str, tuple[str, ...]] = {
    "gatecast.evaluation.significance": (
        "tests/evaluation/test_significance.py",
        "tests/evaluation/test_leaderboard_pins.py",
    ),
    "gatecast.evaluation.losses": (
        "tests/evaluation/test_losses.py",
        "tests/evaluation/test_leaderboard_pins.py",
    ),
    "gatecast.evaluation.metrics": (
        "tests/evaluation/test_point_metrics.py",
        "tests/evaluation/test_leaderboard_pins.py",
    ),
    # the fast walks (historical variance, no training); the GARCH and recurrent walks of
    # test_walkforward.py test the same code at a hundred times the cost
    "gatecast.evaluation.walkforward": (
        "tests/evaluation/test_walkforward_durability.py",
        "tests/evaluation/test_walkforward.py::test_folds_expanding_rolling_and_gap",
        "tests/evaluation/test_walkforward.py::test_a_different_plan_refuses",
        "tests/evaluation/test_walkforward.py::test_the_run_folder_records_each_model",
    ),
    "gatecast.evaluation.executors": ("tests/evaluation/test_executors.py",),
    "gatecast.data.splits": ("tests/data/test_splits.py",),
    "gatecast.data.scalers": ("tests/data/test_scalers.py",),
    # the pin of the Parkinson proxy's fit range decides; the variance model's training run
    # (30 s a mutant) tests the model's own use of the proxy, in its own module
    "gatecast.data.volatility": (
        "tests/data/test_volatility.py",
        "tests/evaluation/test_leaderboard_pins.py::test_the_parkinson_proxy",
    ),
    # the modules of the package gatecast.artifacts
    **{
        f"gatecast.artifacts.{module}": ("tests/test_artifacts.py",)
        for module in ("files", "checksums", "signing", "model_folder", "state", "lock")
    },
    # not the test that resumes in a new process (that process imports gatecast unmutated);
    # of the end-to-end stream tests, one oracle per mode (stream == predict), the direction and
    # multi-feature rows, and a refused observation: each trains its nets again for every mutant
    "gatecast.serve.stream": (
        "tests/serve/test_stream_state.py",
        "tests/serve/test_stream_quick.py",
        "tests/models/test_streaming.py::test_stream_equals_predict_torch_and_numpy[lstm-sequence]",
        "tests/models/test_streaming.py::test_stream_equals_predict_torch_and_numpy[gru-window]",
        "tests/models/test_streaming.py::test_multi_feature_rows",
        "tests/models/test_streaming.py::test_bad_observation",
    ),
    "gatecast.serve.streamset": (
        "tests/serve/test_streamset.py",
        "tests/serve/test_streamset_vector.py",
    ),
}


def _mutated_module() -> str | None:
    """The module of the mutant mutmut is running now (None outside a mutant run)."""
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    for sep in (".x_", ".x\u01c1"):  # mutmut's mangled names: module.x_func, module.xǁClassǁmeth
        if sep in name:
            return name.split(sep)[0]
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    module = _mutated_module()
    if module is None or module not in MUTATION_SCOPE:
        return
    keep = [i for i in items if i.nodeid.startswith(MUTATION_SCOPE[module])]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_signing_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite runs without the user's model-signing settings (a key file in the environment
    would sign and verify every model folder the tests write and edit)."""
    monkeypatch.delenv("GATECAST_SIGNING_KEY_FILE", raising=False)
    monkeypatch.delenv("GATECAST_REQUIRE_SIGNATURE", raising=False)


#: A panel's instruments and their daily volatility in percent, e.g. ``{"A": 1.0, "B": 2.0}``.
Vols = dict[str, float]


def _small_panel(
    vols: Vols,
    days: int,
    *,
    start: str = "2010-01-01",
    seed: int = 0,
    missing: dict[str, tuple[int, int]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Random-walk closes (one generator, drawn instrument after instrument in ``vols``'
    order) on business days from ``start``; ``missing`` deletes the positions ``[a, b)`` of an
    instrument's calendar (a gap, or a late start with ``a = 0``)."""
    calendar = pd.bdate_range(start, periods=days, name="date")
    rng = np.random.default_rng(seed)
    frames = {}
    for name, vol in vols.items():
        own = calendar
        if missing and name in missing:
            own = calendar.delete(np.arange(*missing[name]))
        r = vol * 0.01 * rng.standard_normal(len(own))
        frames[name] = pd.DataFrame({"close": 100 * np.exp(r.cumsum())}, index=own)
    return frames


@pytest.fixture(scope="session")
def small_panel() -> Callable[..., dict[str, pd.DataFrame]]:
    """``small_panel(vols, days, start=, seed=, missing=)``: a small synthetic panel, each
    instrument's frame a ``close`` column on its own calendar (see :func:`_small_panel`)."""
    return _small_panel


def _random_walk_on(seed: int, dates: pd.DatetimeIndex, vol: float) -> pd.DataFrame:
    """Random-walk closes on ``dates`` (the index named ``date``), ``vol`` percent a day, from
    the instrument's own seed."""
    r = np.random.default_rng(seed).standard_normal(len(dates)) * 0.01 * vol
    return pd.DataFrame({"close": 100 * np.exp(np.cumsum(r))}, index=dates.rename("date"))


def _random_walk(seed: int, n: int, start: str, vol: float) -> pd.DataFrame:
    """``n`` business days of :func:`_random_walk_on` from ``start``."""
    return _random_walk_on(seed, pd.bdate_range(start, periods=n, name="date"), vol)


@pytest.fixture(scope="session")
def random_walk_on() -> Callable[[int, pd.DatetimeIndex, float], pd.DataFrame]:
    """``random_walk_on(seed, dates, vol)``: one instrument's closes on the given dates."""
    return _random_walk_on


@pytest.fixture(scope="session")
def random_walk() -> Callable[[int, int, str, float], pd.DataFrame]:
    """``random_walk(seed, n, start, vol)``: one instrument's frame of closes, from its own seed."""
    return _random_walk


def _unaligned_panel(lengths: tuple[int, int, int] = (260, 240, 250)) -> dict[str, pd.DataFrame]:
    """Unaligned calendars and very different spreads (a mixed-up window or scaler would
    show): A from 2010-01-01, B from 2010-02-15 at four times A's volatility, C from 2009-11-02
    at half of it and missing two weeks; each instrument a :func:`_random_walk` of its own seed
    (0, 1, 2)."""
    a, b, c = lengths
    return {
        "A": _random_walk(0, a, "2010-01-01", 1.0),
        "B": _random_walk(1, b, "2010-02-15", 4.0),
        "C": _random_walk(2, c, "2009-11-02", 0.5).drop(pd.bdate_range("2010-03-01", "2010-03-12")),
    }


@pytest.fixture(scope="session")
def unaligned_panel() -> Callable[..., dict[str, pd.DataFrame]]:
    """``unaligned_panel(lengths=(260, 240, 250))``: the three-instrument panel of the global
    models' tests (see :func:`_unaligned_panel`)."""
    return _unaligned_panel


def _late_and_gapped_panel(
    days: pd.DatetimeIndex,
    late: int = 20,
    gap: tuple[int, int] = (150, 160),
    vols: tuple[float, float, float] = (1.0, 3.0, 0.5),
) -> dict[str, pd.DataFrame]:
    """Three instruments on ``days``, each from its own seed (0, 1, 2): A on every day, B
    starting ``late`` days later, C missing the positions ``[gap[0], gap[1])``."""
    a, b, c = vols
    return {
        "A": _random_walk_on(0, days, a),
        "B": _random_walk_on(1, days[late:], b),
        "C": _random_walk_on(2, days.delete(np.arange(*gap)), c),
    }


@pytest.fixture(scope="session")
def late_and_gapped_panel() -> Callable[..., dict[str, pd.DataFrame]]:
    """``late_and_gapped_panel(days, late=20, gap=(150, 160), vols=(1.0, 3.0, 0.5))``: the
    panel walks' unaligned instruments (see :func:`_late_and_gapped_panel`)."""
    return _late_and_gapped_panel


def _write_long_csv(frames: dict[str, pd.DataFrame], path: Path) -> Path:
    """The frames as one long CSV: ``date`` (YYYY-MM-DD), ``ticker``, ``close``."""
    parts = [
        pd.DataFrame(
            {"date": df.index.strftime("%Y-%m-%d"), "ticker": name, "close": df["close"].to_numpy()}
        )
        for name, df in frames.items()
    ]
    pd.concat(parts).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def long_csv() -> Callable[[dict[str, pd.DataFrame], Path], Path]:
    """``long_csv(frames, path)``: write a panel as the long CSV `gatecast ... --panel` reads."""
    return _write_long_csv


def _refused(res: Result, message: str, out: Path) -> None:
    """A refusal on the command line: exit 2, ``message`` in the output (white space folded:
    rich may wrap a long message), nothing written to ``out``."""
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())
    assert not out.exists()


@pytest.fixture(scope="session")
def refused() -> Callable[[Result, str, Path], None]:
    """``refused(res, message, out)``: assert that a CLI run was refused (see :func:`_refused`)."""
    return _refused


def _stream_panel(ss: StreamSet, panel: dict[str, pd.DataFrame]) -> dict[str, pd.Series]:
    """Every instrument's rows ticked through ``ss`` in date order (only the instruments with a
    row on a date); each forecast dated the instrument's next row, as predict dates it."""
    out: dict[str, dict[pd.Timestamp, float]] = {n: {} for n in panel}
    for day in sorted(set().union(*(df.index for df in panel.values()))):
        rows = {n: float(df.at[day, "close"]) for n, df in panel.items() if day in df.index}
        for n, f in ss.update_many(rows, at=day).items():
            out[n][day] = f
    return {n: pd.Series(out[n]).reindex(df.index).shift(1) for n, df in panel.items()}


@pytest.fixture(scope="session")
def stream_panel() -> Callable[[StreamSet, dict[str, pd.DataFrame]], dict[str, pd.Series]]:
    """``stream_panel(stream_set, panel)``: the set's forecasts of a whole panel, ticked row by
    row (see :func:`_stream_panel`)."""
    return _stream_panel


@pytest.fixture(scope="session")
def tiny_panel_walk() -> dict[str, Any]:
    """The keywords of a tiny, fast ``evaluate_panel`` walk (a test from 2010-10-01 of a panel
    from 2010-01-01, hidden 4, one epoch, a refit every 40 days, 100 MCS draws) of the panel
    seed tests (one dict for the session: spread it, never edit it)."""
    return {
        "test_start": "2010-10-01",
        "hidden": 4,
        "epochs": 1,
        "warm_epochs": 1,
        "refit_every": 40,
        "min_train": 150,
        "device": "cpu",
        "mcs_reps": 100,
    }
