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
    Table,
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


def _typed(page: str) -> str:
    """The page's "Command" line: the command line run.json records."""
    return html.unescape(re.search(r"<dt>Command</dt><dd>(.*?)</dd>", page, re.S)[1])


def _same_run(rerun: bytes, page: bytes) -> bool:
    """The same page but for the Command line: how each run was started (from Python, or the
    page's command line with another --out) is the one thing that differs."""
    cut = re.compile(rb"<dt>Command</dt><dd>.*?</dd>\n", re.S)
    return cut.sub(b"", rerun) == cut.sub(b"", page)


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
    args = _rerun(_command(page), again)
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert _same_run((again / REPORT_FILE).read_bytes(), (train_dir / REPORT_FILE).read_bytes())
    assert shlex.split(_typed(_page(again)).replace("\\\n", " ")) == ["gatecast", *args]


def test_the_command_on_the_page_repeats_the_evaluation_byte_for_byte(evaluation, tmp_path) -> None:
    _, out = evaluation
    page = _page(out)
    again = tmp_path / "again"
    res = runner.invoke(app, [*_rerun(_command(page), again), "--n-jobs", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    assert _same_run((again / REPORT_FILE).read_bytes(), (out / REPORT_FILE).read_bytes())


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
    # the same page but for the command line each was made with (its --out)
    assert _same_run((again / REPORT_FILE).read_bytes(), page.encode("utf-8"))
    assert _typed(page) == f"gatecast demo --quick --out {out}"


# -- issue 27: titles, the command, column order, folding, words for infinity, bold ------------
def _backtest_folder(tmp_path, record=None):
    """A backtest run folder as `gatecast backtest` writes it (its tables in their CSV order)."""
    folder = tmp_path / "backtest"
    folder.mkdir()
    settings = {"data": "sp500", "rule": "sign", "cost_bps": 5.0, "out": "runs/bt"}
    (folder / "config.json").write_text(json.dumps(settings))
    (folder / "pbo.json").write_text(json.dumps({"verdict": "Nothing beats buy-and-hold."}))
    models = ["lstm", "gru", "ar1", "buy_and_hold", "vol_target_garch"]
    table = pd.DataFrame(
        {
            "ann_return": [0.01, 0.02, 0.0, 0.08, 0.05],
            "ann_vol": [0.1] * 5,
            "sharpe": [0.1, 0.2, 0.0, 0.8, 0.5],
            "break_even_bps": [3.5, 7.25, 0.0, -np.inf, np.inf],
            "psr": [0.6] * 5,
            "dsr": [0.3] * 5,
        },
        models,
    )
    table.to_csv(folder / "backtest.csv", index_label="model")
    levels = [0.0, 3.0, 8.0, 10.0, 15.0, 20.0, 50.0]
    sweep = pd.DataFrame(
        [(c, m, 0.01, 0.1, 1 - c / 100 + i / 10) for c in levels for i, m in enumerate(models)],
        columns=["cost_bps", "model", "ann_return", "ann_vol", "sharpe"],
    )
    sweep.to_csv(folder / "cost_sweep.csv", index=False)
    if record is not None:
        (folder / "run.json").write_text(json.dumps(record))
    write_report(folder)
    return folder, _page(folder)


def _headers(page: str, caption: str) -> list[str]:
    table = page[page.index(caption) :]
    head = table[: table.index("</thead>")]
    return [html.unescape(h) for h in re.findall(r'<th scope="col">([^<]*)</th>', head)]


def test_every_page_is_titled_by_its_data_and_command(train_dir, evaluation, tmp_path) -> None:
    _, page = _backtest_folder(tmp_path)
    assert "<h1>S&amp;P 500 index (sp500), backtest: sign rule, 5 bps</h1>" in page
    assert (
        "<h1>prices.csv, train: LSTM forecast of the log return (adj_close), test 2018-07-02 .. "
        "2018-12-31</h1>"
    ) in _page(train_dir)
    assert re.search(
        r"<h1>prices\.csv, evaluate: walk-forward forecasts of the variance \(squared proxy\), "
        r"test 2018-07-02 \.\. 2018-12-\d\d</h1>",
        _page(evaluation[1]),
    )


def test_run_json_records_the_command_line_and_the_page_shows_it(prices_csv, tmp_path) -> None:
    from gatecast.experiment.run_reader import Run

    out = tmp_path / "cli"
    args = ["evaluate", "--data", str(prices_csv), "--target", "variance", "--models", "garch"]
    args += ["--test-start", "2018-07-02", "--refit-every", "63", "--quiet", "--n-jobs", "1"]
    res = runner.invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert Run.open(out).command == ["gatecast", *args, "--out", str(out)]
    assert json.loads((out / "run.json").read_text())["command"][:2] == ["gatecast", "evaluate"]
    typed = shlex.split(_typed(_page(out)).replace("\\\n", " "))
    assert typed == ["gatecast", *args, "--out", str(out)]
    # the rerun line on the page is the same command: every option typed, with its value
    rerun = shlex.split(_command(_page(out)).replace("\\\n", " "))
    for option, value in zip(args[1::2], args[2::2], strict=False):
        if option.startswith("--") and not value.startswith("--"):
            assert rerun[rerun.index(option) + 1] == value, option


def test_a_run_made_from_python_records_a_null_command(evaluation) -> None:
    from gatecast.experiment.run_reader import Run

    _, out = evaluation
    assert json.loads((out / "run.json").read_text())["command"] is None
    assert Run.open(out).command is None
    assert "made from Python" in _typed(_page(out))


def test_the_backtest_page_reruns_the_recorded_command_in_a_new_folder(tmp_path) -> None:
    argv = ["gatecast", "backtest", "--data", "sp500", "--out", "runs/bt", "--overwrite"]
    record = {"kind": "backtest", "status": "finished", "format_version": 1, "command": argv}
    _, page = _backtest_folder(tmp_path, record)
    assert _typed(page) == "gatecast backtest --data sp500 --out runs/bt --overwrite"
    assert _command(page) == "gatecast backtest --data sp500 --out runs/rerun"


def test_the_backtest_table_puts_sharpe_dsr_psr_and_break_even_first(tmp_path) -> None:
    _, page = _backtest_folder(tmp_path)
    headers = _headers(page, "Backtest: net Sharpe")
    assert headers[1:5] == ["sharpe", "dsr", "psr", "break_even_bps"]


def test_the_cost_table_is_summarised_and_the_csv_named(tmp_path) -> None:
    _, page = _backtest_folder(tmp_path)
    caption = "Net Sharpe ratio at each one-way cost (7 levels)"
    assert _headers(page, caption)[1:] == [f"{c:g} bps" for c in (0, 3, 8, 10, 15, 20, 50)]
    table = page[page.index(caption) : page.index("</table>", page.index(caption))]
    assert table.count('<th scope="row">') == 5  # one row per model, not 35
    assert "(35 rows, the annualised return" in page and "is in cost_sweep.csv" in page
    # lstm at 8 bps: 1 - 8/100 + 0/10
    assert re.search(r'<th scope="row">lstm</th>(<td>[^<]*</td>){2}<td>0\.92</td>', table)


def test_a_long_table_on_the_page_is_folded_with_the_file_named(tmp_path) -> None:
    folder = tmp_path / "var"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"data": "sp500"}))
    pd.DataFrame({"x": np.arange(30.5, 60)}).to_csv(folder / "var.csv", index_label="day")
    write_report(folder)
    page = _page(folder)
    assert page.count('<th scope="row">') == 12
    assert "The first 12 of 30 rows; the full table is in var.csv." in page


def test_infinite_break_even_costs_are_words_on_the_page(tmp_path) -> None:
    folder, page = _backtest_folder(tmp_path)
    main = page.split("<main>")[1]
    assert "<td>never profitable</td>" in main and "<td>profitable at any cost</td>" in main
    assert "inf" not in re.sub(r"<[^>]+>", " ", main).replace("infinite", "")
    assert "-inf" in (folder / "backtest.csv").read_text()  # the CSV keeps the number


def test_bold_only_where_the_model_is_significantly_better() -> None:
    from gatecast.experiment.report.page import _table_html

    frame = pd.DataFrame(
        {
            "qlike": [1.0, 2.0, 1.5],
            "dm_ref": [-3.0, 3.0, -0.5],
            "p_ref": [0.001, 0.001, 0.6],
            "pt_stat": [2.5, -2.5, 2.5],
            "pt_p": [0.01, 0.01, 0.01],
        },
        ["better", "worse", "same"],
    )
    rows = re.findall(r"<tr><th scope=\"row\">(\w+)</th>(.*?)</tr>", _table_html(Table("t", frame)))
    bold = {name: re.findall(r'<td class="sig">([^<]*)</td>', cells) for name, cells in rows}
    assert bold == {"better": ["0.001", "0.01"], "worse": [], "same": ["0.01"]}
