"""Shared by the global models' prediction tests: one instrument's view of a global model
(for_instrument) given the calibration record the one-series ``train`` writes."""

from __future__ import annotations

from typing import Any

import pandas as pd

from gatecast.experiment.forecast_intervals import INFO_KEY, calibration_record


def calibrate_view(view: Any, df: pd.DataFrame, train_end: str, *, variance: bool) -> None:
    """Give ``view`` the calibration record the one-series ``train`` writes, built from the
    instrument's rows ``df`` after ``train_end`` (out of sample)."""
    history = df.loc[df.index <= pd.Timestamp(train_end)]
    first = df.index[df.index > pd.Timestamp(train_end)][0]
    record, _ = calibration_record(
        view, df, history, view.predict(df, start=first), variance=variance
    )
    assert record is not None
    spec = view._fitted()
    view.spec_ = type(spec)(**{**spec.__dict__, "info": {**spec.info, INFO_KEY: record}})
