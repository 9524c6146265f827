"""Fixtures shared by the experiment tests."""

from __future__ import annotations

import pandas as pd
import pytest

import gatecast.data.covariates as covariates_module


@pytest.fixture
def moved_vix(monkeypatch: pytest.MonkeyPatch) -> dict[str, pd.DataFrame]:
    """The ``vix`` group reads ``values["vix"]`` (replace it to change the covariate)."""
    real = covariates_module.covariate_values
    values = {"vix": real("vix")[0]}

    def fake(name: str) -> tuple[pd.DataFrame, int]:
        return (values[name], 0) if name in values else real(name)

    monkeypatch.setattr(covariates_module, "covariate_values", fake)
    return values
