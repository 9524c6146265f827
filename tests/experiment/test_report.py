"""report.html: written into every run folder, self-contained (no URL, no script), every figure of
the run on the page as SVG, numbers as the console prints them, the same bytes for the same run,
and a command line that repeats the run."""

from __future__ import annotations

import html
import io
import json
import re
import shlex
import shutil

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import load
from gatecast.errors import GatecastError, ReportError
from gatecast.experiment.evaluation import EvaluationConfig, evaluate_models
from gatecast.experiment.report import (
    REPORT_FILE,
    _evaluation_verdict,
    _per_date_losses,
    build_report,
    write_report,
)
from gatecast.experiment.training import TrainJob, run_training

runner = CliRunner()


@pytest.fixture(scope="module")
def prices_csv(tmp_path_factory):
    df = load("sp500").loc["2016":"2018", ["open", "high", "low", "close", "adj_close"]]
    path = tmp_path_factory.mktemp("data") / "prices.csv"
    df.to_csv(path, index_label="date")
    return path


TRAIN = dict(
    target="return",
    cell="lstm",
    epochs=2,
    hidden=4,
    layers=1,
    window=10,
    batch_size=64,
    test_start="2018-07-02",
    seed=3,
    device="cpu",
    quiet=True,
)


@pytest.fixture(scope="module")
def train_dir(prices_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "run"
    run_training(TrainJob(data=str(prices_csv), **TRAIN), out)
    return out


def _evaluation_config(data, out):
    return EvaluationConfig(
        data=str(data),
        target="variance",
        models=("garch", "no_change", "historical_mean"),
        test_start="2018-07-02",
        refit_every=63,
        n_jobs=1,
        quiet=True,
        out=str(out),
    )


@pytest.fixture(scope="module")
def evaluation(prices_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate") / "run"
    return evaluate_models(_evaluation_config(prices_csv, out)), out


def _page(folder) -> str:
    return (folder / REPORT_FILE).read_text(encoding="utf-8")


def _rerun(command: str, out) -> list[str]:
    """The page's command line as CLI arguments, with a new --out."""
    args = shlex.split(command.replace("\\\n", " "))
    assert args[0] == "gatecast"
    args[args.index("--out") + 1] = str(out)
    return args[1:]


def _command(page: str) -> str:
    return html.unescape(re.search(r"<pre>(.*?)</pre>", page, re.S)[1])


# -- what the page holds ------------------------------------------------------------------------
def test_train_run_folder_gets_a_report_with_verdict_tables_and_figures(train_dir) -> None:
    page = _page(train_dir)
    metrics = json.loads((train_dir / "metrics.json").read_text())
    assert html.escape(metrics["verdict"]) in page
    for fact in ("Data", "Test", "Versions", "Reproduce", "sha256", "torch "):
        assert fact in page
    assert re.search(r"<td>\d\.\d{4}</td>", page)  # theil_u with four decimals, as printed
    for figure in ("fig-forecast", "fig-loss", "fig-gates", "fig-state"):
        assert f'<figure id="{figure}"' in page
    assert "input gate i" in page and "forget gate f" in page  # the LSTM gate panel


def test_evaluate_run_folder_gets_the_leaderboard_with_significance_and_mcs(evaluation) -> None:
    result, out = evaluation
    page = _page(out)
    assert "Leaderboard" in page and "in_mcs" in page and "p_ref" in page
    for model in result.leaderboard.index:
        assert f"({model})" in page or f">{model}<" in page
    assert "model confidence set holds" in page
    assert '<figure id="fig-cumulative-loss" data-source="cumulative_loss.png">' in page


@pytest.mark.parametrize("kind", ["train", "evaluate"])
def test_no_external_url_no_script(kind, train_dir, evaluation) -> None:
    page = _page(train_dir if kind == "train" else evaluation[1])
    assert not re.search(r"https?:|ftp:|file://|www\.", page, re.I)
    assert not re.search(r"""(?:src|href)=["']?//|url\(["']?//""", page)  # protocol-relative
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"\son\w+=", page)  # no event handlers
    assert set(re.findall(r'\ssrc="([a-z]+):', page)) <= {"data"}
    assert set(re.findall(r'href="(#|[a-z]+:)', page)) <= {"#", "data:"}
    assert set(re.findall(r"url\((.)", page)) <= {"#"}


@pytest.mark.parametrize("kind", ["train", "evaluate"])
def test_every_figure_the_run_made_is_on_the_page_as_svg_with_alt_text(
    kind, train_dir, evaluation
) -> None:
    folder = train_dir if kind == "train" else evaluation[1]
    page = _page(folder)
    pngs = {p.name for p in folder.glob("*.png")}
    assert pngs, "the run made no figure"
    figures = re.findall(r'<figure id="[^"]+" data-source="([^"]+)"><svg', page)
    assert pngs <= set(figures)
    svgs = re.findall(r"<svg\b[^>]*>", page)
    assert svgs and all(re.search(r'role="img" aria-label="[^"]{20,}"', s) for s in svgs)
    assert page.count("<title>") == len(svgs) + 1  # one per figure, one for the page
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "two elements share an id"


def test_a_png_the_report_cannot_redraw_is_inlined_as_it_is(train_dir, tmp_path) -> None:
    folder = tmp_path / "run"
    shutil.copytree(train_dir, folder)
    shutil.copy(folder / "loss.png", folder / "extra_plot.png")
    write_report(folder)
    page = _page(folder)
    assert re.search(r'data-source="extra_plot.png"><img alt="[^"]+" src="data:image/png', page)


def test_another_run_folder_gets_its_settings_verdict_tables_and_pngs(train_dir, tmp_path) -> None:
    folder = tmp_path / "backtest"
    folder.mkdir()
    settings = {"data": "sp500", "rule": "sign", "cost_bps": 5.0, "out": str(folder)}
    (folder / "config.json").write_text(json.dumps(settings))
    verdict = "Nothing beats buy-and-hold after costs."
    (folder / "pbo.json").write_text(json.dumps({"verdict": verdict, "seconds": 1.23}))
    table = pd.DataFrame(
        {"sharpe": [0.51234, 0.7], "seconds": [1.0, 2.0]}, ["lstm", "buy_and_hold"]
    )
    table.to_csv(folder / "backtest.csv", index_label="model")
    shutil.copy(train_dir / "loss.png", folder / "equity.png")
    write_report(folder)
    page = _page(folder)
    assert "gatecast backtest" in page and verdict in page and "cost_bps=5.0" in page
    assert "<td>0.5123</td>" in page and "seconds" not in page.split("<main>")[1]
    assert str(folder) not in page  # no run-folder path: the same run, the same bytes
    assert 'data-source="equity.png"><img' in page


def test_numbers_are_formatted_as_the_console_table_prints_them(train_dir, monkeypatch) -> None:
    from gatecast.cli import output

    buf = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=buf, width=300, color_system=None))
    metrics = json.loads((train_dir / "metrics.json").read_text())
    output.print_table(pd.DataFrame(metrics["models"]).T, "metrics")
    printed = {c.strip() for line in buf.getvalue().splitlines() for c in line.split("│")[2:]}
    cells = set(re.findall(r"<td(?: class=\"sig\")?>([^<]*)</td>", _page(train_dir)))
    printed = {html.escape(c) for c in printed if c}
    assert printed and printed <= cells


def test_cumulative_loss_is_redrawn_from_the_stored_forecasts(evaluation) -> None:
    result, out = evaluation
    fc = pd.read_parquet(out / "forecasts.parquet")
    losses = _per_date_losses(fc, list(result.config.models), result.primary_loss)
    pd.testing.assert_frame_equal(losses, result.losses, check_freq=False, check_names=False)


# -- the same run, the same bytes; the command repeats it ----------------------------------------
def test_the_command_on_the_page_repeats_the_train_run_byte_for_byte(train_dir, tmp_path) -> None:
    page = _page(train_dir)
    again = tmp_path / "again"
    res = runner.invoke(app, _rerun(_command(page), again))
    assert res.exit_code == 0, res.output
    assert (again / REPORT_FILE).read_bytes() == (train_dir / REPORT_FILE).read_bytes()


def test_the_command_on_the_page_repeats_the_evaluation_byte_for_byte(evaluation, tmp_path) -> None:
    _, out = evaluation
    page = _page(out)
    again = tmp_path / "again"
    res = runner.invoke(app, [*_rerun(_command(page), again), "--n-jobs", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    assert (again / REPORT_FILE).read_bytes() == (out / REPORT_FILE).read_bytes()


def test_gatecast_report_writes_the_same_page_again(train_dir, tmp_path) -> None:
    folder = tmp_path / "run"
    shutil.copytree(train_dir, folder)
    (folder / REPORT_FILE).unlink()
    res = runner.invoke(app, ["report", str(folder)])
    assert res.exit_code == 0, res.output
    assert (folder / REPORT_FILE).read_bytes() == (train_dir / REPORT_FILE).read_bytes()


# -- what goes wrong is said -------------------------------------------------------------------
def test_a_folder_without_a_run_is_refused_by_name(tmp_path) -> None:
    with pytest.raises(ReportError, match="holds no run"):
        write_report(tmp_path)
    res = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "is not a folder" in res.output


def test_a_corrupt_file_is_a_report_error_naming_it(train_dir, tmp_path) -> None:
    folder = tmp_path / "run"
    shutil.copytree(train_dir, folder)
    (folder / "metrics.json").write_text("{not json")
    with pytest.raises(ReportError, match=r"metrics\.json is not valid JSON"):
        write_report(folder)
    assert issubclass(ReportError, GatecastError)


def test_missing_data_leaves_the_gate_panel_out_and_says_why(train_dir, tmp_path) -> None:
    folder = tmp_path / "run"
    shutil.copytree(train_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["data"] = str(tmp_path / "moved.csv")
    (folder / "config.json").write_text(json.dumps(config))
    report = build_report(folder)
    assert "fig-gates" not in {p.id for p in report.panels}
    assert any("gate panel is left out" in n and "moved.csv" in n for n in report.notes)


# -- the verdict of an evaluation ----------------------------------------------------------------
def _board(rows):
    cols = ["qlike", "p_ref", "in_mcs"]
    return pd.DataFrame(rows, columns=["model", *cols]).set_index("model")


def test_evaluation_verdict_names_a_significant_winner_and_the_mcs() -> None:
    board = _board([("gjr_t", 1.60, 0.01, True), ("garch", 1.70, np.nan, False)])
    text = _evaluation_verdict(board, {"primary_loss": "qlike", "reference": "garch"})
    assert text.startswith("GJR-GARCH(1,1)-t beats GARCH(1,1) on qlike: 1.6 vs 1.7, DM p = 0.01")
    assert text.endswith("The 90% model confidence set holds GJR-GARCH(1,1)-t.")


def test_evaluation_verdict_says_when_no_model_beats_the_reference() -> None:
    board = _board([("lstm", 1.65, 0.33, True), ("garch", 1.70, np.nan, True)])
    text = _evaluation_verdict(board, {"primary_loss": "qlike", "reference": "garch"})
    assert text.startswith("No model beats GARCH(1,1) on qlike (DM p > 0.05 for each)")
    assert "LSTM has a lower mean (1.65 vs 1.7) but DM p = 0.33" in text


# -- the demo (slow: it trains six networks) ------------------------------------------------------
@pytest.mark.slow
def test_demo_report_is_small_complete_and_reproducible(tmp_path) -> None:
    out = tmp_path / "demo"
    res = runner.invoke(app, ["demo", "--quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    page = _page(out)
    size = (out / REPORT_FILE).stat().st_size
    assert size < 2 * 1024 * 1024, f"the demo report is {size / 1e6:.2f} MB"
    pngs = {p.name for p in out.glob("*.png")}
    assert len(pngs) == 4
    assert pngs <= set(re.findall(r'data-source="([^"]+)"><svg', page))
    assert not re.search(r"https?:", page)
    again = tmp_path / "again"
    assert runner.invoke(app, ["demo", "--quick", "--out", str(again)]).exit_code == 0
    assert (again / REPORT_FILE).read_bytes() == page.encode("utf-8")
