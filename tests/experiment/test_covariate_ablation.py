"""evaluate --covariates: the ablation's models (each recurrent model with and without each
covariate group, har beside har_x), its table, and the settings it refuses."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.errors import ConfigError
from gatecast.experiment.evaluation import EvaluationConfig, evaluate_models
from gatecast.experiment.registry import ablation_models

runner = CliRunner()


def test_ablation_models_pair_each_model_with_each_group() -> None:
    assert ablation_models(("lstm", "har", "gjr_t"), ("vix",)) == (
        "lstm",
        "lstm+vix",
        "har",
        "har_x+vix",
        "gjr_t",
    )
    assert ablation_models(("gru", "har_x"), ("vix", "nasdaq")) == (
        "gru",
        "gru+vix",
        "gru+nasdaq",
        "gru+vix+nasdaq",
        "har_x+vix",
        "har_x+nasdaq",
        "har_x+vix+nasdaq",
    )
    cfg = EvaluationConfig(models=("lstm", "har"), covariates=("vix",))
    assert cfg.models == ("lstm", "lstm+vix", "har", "har_x+vix")
    assert cfg.members()["lstm+vix"] == ["lstm+vix[s0]"]  # recurrent: one column per seed


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"covariates": ("vxx",)}, "covariate 'vxx' is unknown; choose from vix, nasdaq"),
        ({"models": ("har_x",)}, "har_x is HAR with covariates as regressors: name them"),
        ({"models": ("lstm+vix",)}, "cannot forecast a variance target"),
        (
            {"models": ("lstm+nasdaq",), "covariates": ("vix",)},
            "reads the covariate\\(s\\) nasdaq, which --covariates \\(vix\\) does not name",
        ),
        ({"models": ("gjr_t",), "covariates": ("vix",)}, "--models gjr_t has none of them"),
        ({"covariates": ("vix", "vix")}, "name a group twice"),
    ],
)
def test_covariate_settings_refused(settings, message) -> None:
    with pytest.raises(ConfigError, match=message):
        EvaluationConfig(**settings)


def test_evaluate_with_vix_scores_the_ablation(tmp_path) -> None:
    cfg = EvaluationConfig(
        models=("lstm", "har"),
        covariates=("vix",),
        test_start="2018-07-02",
        refit_every=126,
        recurrent_epochs=1,
        warm_epochs=1,
        hidden=4,
        n_jobs=1,
        quiet=True,
        mcs_reps=200,
        out=str(tmp_path / "run"),
    )
    res = evaluate_models(cfg)
    board = res.leaderboard
    assert set(board.index) == {"lstm", "lstm+vix", "har", "har_x+vix"}
    assert {"dm_ref", "p_ref", "mcs_p", "in_mcs"} <= set(board.columns)
    ab = res.ablation
    assert ab is not None
    assert list(ab.index) == ["lstm+vix", "har_x+vix"]
    assert list(ab["without"]) == ["lstm", "har"]
    for m, row in ab.iterrows():
        assert row["qlike_with"] == pytest.approx(board.loc[m, "qlike"])
        assert row["qlike_without"] == pytest.approx(board.loc[row["without"], "qlike"])
        assert row["ratio"] == pytest.approx(row["qlike_with"] / row["qlike_without"])
        # DM's sign is the sign of the mean loss difference (with - without)
        diff = res.losses[m] - res.losses[row["without"]]
        assert np.sign(row["dm"]) == np.sign(diff.mean())
    # HAR-X's forecasts differ from HAR's: the covariate is read
    assert not np.allclose(res.forecasts["har_x+vix"], res.forecasts["har"])
    assert any("rows of bundled dataset 'sp500' before it were left out" in n for n in res.notes)
    written = pd.read_csv(tmp_path / "run" / "ablation.csv", index_col="model")
    assert list(written.index) == ["lstm+vix", "har_x+vix"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [r["model"] for r in metrics["ablation"]] == ["lstm+vix", "har_x+vix"]
    assert metrics["config"]["covariates"] == ["vix"]


def test_the_command_refuses_an_unknown_covariate_naming_the_known_ones(tmp_path) -> None:
    res = runner.invoke(app, ["evaluate", "--out", str(tmp_path / "r"), "--covariates", "vxx"])
    assert res.exit_code == 2
    assert "covariate 'vxx' is unknown; choose from vix, nasdaq" in res.output
    assert not (tmp_path / "r").exists()
