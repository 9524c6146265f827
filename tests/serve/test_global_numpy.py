"""A global model's folder served with NumPy alone (`load_global_numpy`): verified as the torch
loader verifies it, forecasts equal to the torch model's to float rounding, torch never
imported, and a StreamSet whose instruments' windows run as one batched forward that equals
the per-instrument loop and resumes exactly."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gatecast.errors import ModelFileError, PanelError
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance
from gatecast.serve import GlobalNumpyModel, StreamSet, load_global_numpy
from gatecast.serve.global_numpy import read_global_folder

#: NumPy in float64 against torch in float32 on the same float32 weights: the torch side's
#: rounding (measured about 1.5e-7 relative).
TORCH_RTOL = 1e-6


MODELS: dict[str, Any] = {
    "variance": lambda emb: GlobalRecurrentVariance(
        hidden=4, epochs=1, device="cpu", seed=0, embedding=emb
    ),
    "return": lambda emb: GlobalRecurrentReturn(
        hidden=4, window=5, epochs=1, device="cpu", seed=0, embedding=emb, quiet=True
    ),
}


@pytest.fixture(
    scope="module",
    params=[("variance", False), ("variance", True), ("return", False), ("return", True)],
    ids=["variance", "variance-embedding", "return", "return-embedding"],
)
def saved(
    unaligned_panel, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
):  # type: ignore[no-untyped-def]
    family, embedding = request.param
    panel = unaligned_panel()
    model = MODELS[family](embedding).fit(panel)
    folder = tmp_path_factory.mktemp("global") / "m"
    model.save(folder)
    return model, folder, panel


def _looped(model: GlobalNumpyModel) -> StreamSet:
    """The same instruments one at a time: each its own single-series NumPy model (its biases
    folded into its own weights), the set's per-instrument path."""
    first = model.instruments[0]
    return StreamSet(
        lambda: model.for_instrument(first).stream(),
        stream_for=lambda k: model.for_instrument(k).stream(),
    )


def test_forecasts_equal_the_torch_models_and_the_folder_is_verified(stream_panel, saved) -> None:  # type: ignore[no-untyped-def]
    model, folder, panel = saved
    numpy_model = load_global_numpy(folder)
    assert numpy_model.instruments == model.instruments_
    assert numpy_model.min_history() == model.min_history()
    got, want = numpy_model.predict(panel), model.predict(panel)
    pd.testing.assert_frame_equal(got[["instrument", "date"]], want[["instrument", "date"]])
    assert want.forecast.notna().sum() > 400
    np.testing.assert_allclose(got.forecast, want.forecast, rtol=TORCH_RTOL, atol=0)
    # each instrument's own part is used: B's view of A's scalers would differ by far more
    a, b = numpy_model.for_instrument("A"), numpy_model.for_instrument("B")
    assert a.spec.feature_scaler.to_dict() != b.spec.feature_scaler.to_dict()
    # the streamed forecasts are predict's too (the batched set)
    streamed = stream_panel(numpy_model.stream_set(), panel)
    for n, series in streamed.items():
        ref = want[want.instrument == n].set_index("date").forecast.reindex(series.index)
        assert np.array_equal(series.isna(), ref.isna()), n
        np.testing.assert_allclose(series.dropna(), ref.dropna(), rtol=TORCH_RTOL, atol=0)


def test_the_batched_forward_equals_the_per_instrument_loop(
    stream_panel, saved, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    _, folder, panel = saved
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        numpy_model = load_global_numpy(folder, dtype)
        sizes: list[int] = []
        forward = numpy_model.engine.forward_windows

        def spy(
            X: np.ndarray, *biases: Any, _f: Any = forward, _sizes: list[int] = sizes
        ) -> np.ndarray:
            _sizes.append(len(X))
            return np.asarray(_f(X, *biases))

        monkeypatch.setattr(numpy_model.engine, "forward_windows", spy)
        batched = stream_panel(numpy_model.stream_set(), panel)
        assert max(sizes) == 3  # the days all three trade: one forward for the three
        looped = stream_panel(_looped(load_global_numpy(folder, dtype)), panel)
        for n in panel:
            assert np.array_equal(batched[n].isna(), looped[n].isna()), n
            np.testing.assert_allclose(batched[n].dropna(), looped[n].dropna(), rtol=rtol, atol=0)


def test_the_sets_state_resumes_exactly_and_moves_between_the_loaders(stream_panel, saved) -> None:  # type: ignore[no-untyped-def]
    model, folder, panel = saved
    cut = pd.Timestamp("2010-06-01")
    before = {n: df.loc[df.index < cut] for n, df in panel.items()}
    after = {n: df.loc[df.index >= cut] for n, df in panel.items()}
    whole = stream_panel(load_global_numpy(folder).stream_set(), panel)
    first = load_global_numpy(folder).stream_set()
    stream_panel(first, before)
    again = load_global_numpy(folder).stream_set()
    again.load_state(first.state())
    resumed = stream_panel(again, after)
    for n in panel:  # the same path: exactly the same numbers (the first after the cut was
        # made before it: compared from the second)
        np.testing.assert_array_equal(resumed[n].iloc[1:], whole[n].loc[after[n].index].iloc[1:])
    # the torch model's set takes the NumPy set's state (each instrument's weights, folded the
    # same way, have the same fingerprint), and the other way round
    torch_set = model.stream_set()
    torch_set.load_state(first.state())
    again.load_state(torch_set.state())
    assert [again[n].fingerprint for n in panel] == [torch_set[n].fingerprint for n in panel]


def test_torch_is_never_imported(saved, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, folder, panel = saved
    want = model.predict(panel)
    frame = pd.concat(df.assign(ticker=n) for n, df in panel.items()).reset_index()
    frame.to_csv(tmp_path / "long.csv", index=False)
    script = (
        "import json, sys\n"
        "import gatecast as gc\n"
        "from gatecast.experiment.panel_serving import open_panel_stream, run_panel_prediction\n"
        "from gatecast.serve import load_global_numpy\n"
        f"m = load_global_numpy({str(folder)!r})\n"
        f"panel = dict(gc.load_panel({str(tmp_path / 'long.csv')!r}))\n"
        "fc = m.predict(panel)\n"
        f"ss = open_panel_stream({str(folder)!r})\n"
        "ss.update_many({n: float(df.close.iloc[0]) for n, df in panel.items()}, at='2011-06-01')\n"
        f"nxt = run_panel_prediction({str(folder)!r}, panel, engine='numpy')\n"
        "print(json.dumps({'fc': fc.forecast.tolist(), 'next': nxt.forecast.tolist(),\n"
        "                  'torch': 'torch' in sys.modules}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["torch"] is False  # served with NumPy alone
    np.testing.assert_allclose(res["fc"], want.forecast, rtol=TORCH_RTOL, atol=0)
    assert len(res["next"]) == 3 and np.isfinite(res["next"]).all()


def test_a_tampered_or_unsigned_folder_is_refused_as_by_the_torch_loader(
    saved, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    model, folder, _ = saved
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    key = "levels" if "levels" in manifest["panel"] else "target_scalers"
    part = manifest["panel"][key]
    if key == "levels":
        part["B"] *= 2  # every forecast of B doubled: must not load
    else:
        part["B"]["scale"] = [2 * v for v in part["B"]["scale"]]
    edited = tmp_path / "edited"
    edited.mkdir()
    (edited / "manifest.json").write_text(json.dumps(manifest))
    (edited / "model.safetensors").write_bytes((Path(folder) / "model.safetensors").read_bytes())
    with pytest.raises(ModelFileError, match="does not match its own checksum"):
        load_global_numpy(edited)
    (tmp_path / "a.key").write_text(secrets.token_hex(32))
    (tmp_path / "b.key").write_text(secrets.token_hex(32))
    model.save(tmp_path / "signed", signing_key=tmp_path / "a.key")
    assert load_global_numpy(tmp_path / "signed", signing_key=tmp_path / "a.key").instruments
    with pytest.raises(ModelFileError, match="key id"):
        load_global_numpy(tmp_path / "signed", signing_key=tmp_path / "b.key")
    with pytest.raises(ModelFileError, match=r"not signed|unsigned|no signature"):
        load_global_numpy(folder, signing_key=tmp_path / "a.key")


def test_another_kind_or_instrument_is_refused_by_name(random_walk, saved, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from gatecast.models.recurrent import RecurrentVariance

    _, folder, _ = saved
    RecurrentVariance(hidden=4, epochs=1, device="cpu").fit(
        random_walk(0, 200, "2010-01-01", 1.0)
    ).save(tmp_path / "one")
    with pytest.raises(ModelFileError, match=r"'recurrent_variance' model, expected .*load_numpy"):
        load_global_numpy(tmp_path / "one")
    other = "global_return" if "variance" in str(read_global_folder(folder).kind) else None
    if other:
        with pytest.raises(
            ModelFileError, match=r"'global_variance' model, expected 'global_return'"
        ):
            read_global_folder(folder, other)
    numpy_model = load_global_numpy(folder)
    with pytest.raises(PanelError, match=r"'Z' was not in the fit \(A, B, C\)"):
        numpy_model.for_instrument("Z")
    ss = numpy_model.stream_set()
    out = ss.update_many({"A": 100.0, "Z": 10.0}, at="2012-01-03", errors="skip")
    assert list(out) == ["A"] and list(ss.rejected) == ["Z"]


def test_the_cli_serves_a_global_folder_with_engine_numpy(saved, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from gatecast.cli.app import app

    _, folder, panel = saved
    frame = pd.concat(df.assign(ticker=n) for n, df in panel.items()).reset_index()
    csv = tmp_path / "long.csv"
    frame.assign(date=frame.date.dt.strftime("%Y-%m-%d")).to_csv(csv, index=False)
    runner = CliRunner()
    tables = {}
    for engine in ("numpy", "torch"):
        out = tmp_path / f"{engine}.csv"
        args = ["predict", "--model", str(folder), "--data", str(csv), "--out", str(out)]
        res = runner.invoke(app, [*args, "--engine", engine])
        assert res.exit_code == 0, res.output
        tables[engine] = pd.read_csv(out).set_index("instrument")
    np.testing.assert_allclose(
        tables["numpy"].forecast, tables["torch"].forecast, rtol=TORCH_RTOL, atol=0
    )
    assert (tables["numpy"].date == tables["torch"].date).all()
    # stream: long rows, every instrument's last forecast is predict's for its next bar
    rows = frame.sort_values(["date", "ticker"], kind="stable")
    text = "date,ticker,close\n" + "".join(
        f"{d:%Y-%m-%d},{t},{c!r}\n" for d, t, c in rows[["date", "ticker", "close"]].values
    )
    res = runner.invoke(app, ["stream", "--model", str(folder), "--engine", "numpy"], input=text)
    assert res.exit_code == 0, res.output
    lines = [ln.split(",") for ln in res.stdout.splitlines() if ln.count(",") >= 3]
    got = pd.DataFrame(lines[1:], columns=lines[0]).groupby("instrument").tail(1)
    got = got.set_index("instrument").forecast.astype(float)
    np.testing.assert_allclose(got[list(panel)], tables["torch"].forecast[list(panel)], rtol=1e-5)


def test_engine_is_refused_for_one_series(random_walk, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gatecast.cli.app import app
    from gatecast.models.recurrent import RecurrentVariance

    RecurrentVariance(hidden=4, epochs=1, device="cpu").fit(
        random_walk(0, 200, "2010-01-01", 1.0)
    ).save(tmp_path / "one")
    random_walk(0, 200, "2010-01-01", 1.0).to_csv(tmp_path / "one.csv")
    args = ["predict", "--model", str(tmp_path / "one"), "--data", str(tmp_path / "one.csv")]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "p.csv"), "--engine", "numpy"])
    assert res.exit_code == 2
    assert "--engine applies to a global model folder" in res.output
    assert not (tmp_path / "p.csv").exists()
