"""Serving the global model: one model folder (shared weights once, each instrument's scaler
and level in the sealed manifest), tampering refused, and a StreamSet whose forecasts are
predict's for every instrument, new instruments included or refused by name."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gatecast.artifacts import seal_manifest
from gatecast.errors import ModelFileError, PanelError, TooFewRowsError
from gatecast.models.recurrent import load_model
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance
from gatecast.serve import load_numpy


def _model(**kw: object) -> GlobalRecurrentVariance:
    settings: dict[str, object] = {"hidden": 4, "epochs": 1, "device": "cpu", "seed": 0} | kw
    return GlobalRecurrentVariance(**settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "embedding"])
def saved(
    unaligned_panel, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
):  # type: ignore[no-untyped-def]
    panel = unaligned_panel()
    m = _model(embedding=request.param).fit(panel)
    folder = tmp_path_factory.mktemp("global") / "m"
    m.save(folder)
    return m, folder, panel


def _check_equal(streamed: dict[str, pd.Series], ref: pd.DataFrame, rtol: float) -> None:
    for n, got in streamed.items():
        want = ref[ref.instrument == n].set_index("date").forecast.reindex(got.index)
        assert np.array_equal(got.isna(), want.isna()), n  # the same warm-up
        assert want.notna().sum() > 150, n
        np.testing.assert_allclose(got[want.notna()], want[want.notna()], rtol=rtol, atol=0)


def test_round_trip_gives_identical_forecasts_and_one_folder(saved) -> None:  # type: ignore[no-untyped-def]
    m, folder, panel = saved
    assert sorted(p.name for p in Path(folder).iterdir()) == ["manifest.json", "model.safetensors"]
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    assert manifest["kind"] == "global_variance"
    assert manifest["panel"]["instruments"] == ["A", "B", "C"]
    assert manifest["panel"]["levels"] == m.levels_
    loaded = GlobalRecurrentVariance.load(folder, device="cpu")
    assert loaded.embedding == m.embedding and loaded.instruments_ == m.instruments_
    for n in m.instruments_:
        assert loaded.scalers_[n].to_dict() == m.scalers_[n].to_dict()
    # the same path (torch, float32) on the same weights: exactly the same forecasts
    pd.testing.assert_frame_equal(loaded.predict(panel), m.predict(panel), check_exact=True)
    with pytest.raises(ModelFileError, match=r"GlobalRecurrentVariance\.load\(folder\)"):
        load_model(folder)
    with pytest.raises(ModelFileError, match=r"GlobalRecurrentVariance\.load\(folder\)"):
        load_numpy(folder)


def test_a_tampered_manifest_or_weights_is_refused(saved, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, folder, _ = saved
    edited = tmp_path / "level"
    edited.mkdir()
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    manifest["panel"]["levels"]["B"] *= 2  # every forecast of B doubled: must not load
    (edited / "manifest.json").write_text(json.dumps(manifest))
    (edited / "model.safetensors").write_bytes((Path(folder) / "model.safetensors").read_bytes())
    with pytest.raises(ModelFileError, match="does not match its own checksum"):
        GlobalRecurrentVariance.load(edited)
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "manifest.json").write_text((Path(folder) / "manifest.json").read_text())
    payload = bytearray((Path(folder) / "model.safetensors").read_bytes())
    payload[-1] ^= 0x01
    (weights / "model.safetensors").write_bytes(bytes(payload))
    with pytest.raises(ModelFileError, match="does not match the checksum"):
        GlobalRecurrentVariance.load(weights)


def test_a_single_series_folder_is_refused(random_walk, tmp_path: Path) -> None:
    from gatecast.models.recurrent import RecurrentVariance

    RecurrentVariance(hidden=4, epochs=1, device="cpu").fit(
        random_walk(0, 200, "2010-01-01", 1.0)
    ).save(tmp_path / "one")
    with pytest.raises(
        ModelFileError, match="'recurrent_variance' model, expected 'global_variance'"
    ):
        GlobalRecurrentVariance.load(tmp_path / "one")


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_the_stream_set_forecasts_are_predicts(stream_panel, saved, engine: str) -> None:  # type: ignore[no-untyped-def]
    _, folder, panel = saved
    loaded = GlobalRecurrentVariance.load(folder, device="cpu")
    ss = loaded.stream_set(engine)
    # float32 both ways; NumPy vs torch kernels differ in rounding only
    _check_equal(stream_panel(ss, panel), loaded.predict(panel), rtol=1e-5)
    assert list(ss) == ["C", "A", "B"]  # in the order they first traded
    # the instruments really differ: one net per instrument would show as equal levels here
    assert ss["A"].spec.feature_scaler.to_dict() != ss["B"].spec.feature_scaler.to_dict()


def test_a_new_instrument_streams_from_its_history_or_is_refused_by_name(
    stream_panel, random_walk, saved
) -> None:  # type: ignore[no-untyped-def]
    m, _, panel = saved
    new = random_walk(7, 120, "2011-01-03", 2.0)
    start = new.index[60]
    if m.embedding:
        with pytest.raises(PanelError, match=r"'D' was not in the fit .* embedding=True"):
            m.stream_set(history={"D": new.loc[new.index < start]})
        return
    ss = m.stream_set(history={"D": new.loc[new.index < start]})
    got = stream_panel(ss, {"D": new})["D"]
    ref = m.predict({"D": new}, start=start)
    # predict fits D's scaler and level on its rows before start; the stream set did the same
    _check_one = got.loc[start:]
    want = ref.set_index("date").forecast
    np.testing.assert_allclose(_check_one.reindex(want.index), want, rtol=1e-5, atol=0)
    with pytest.raises(TooFewRowsError, match=r"'E' has 20 rows .* at least 27"):
        m.stream_set(history={"E": new.iloc[:20]})
    with pytest.raises(PanelError, match="'A' was in the fit"):
        m.stream_set(history={"A": panel["A"]})


def test_an_unknown_instrument_is_refused_and_nothing_ticks(saved) -> None:  # type: ignore[no-untyped-def]
    m, _, _ = saved
    ss = m.stream_set()
    ss.update_many({"A": 100.0}, at="2012-01-02")
    with pytest.raises(PanelError, match=r"'Z' was not in the fit .* history"):
        ss.update_many({"B": 50.0, "Z": 10.0, "A": 101.0}, at="2012-01-03")
    assert list(ss) == ["A"] and ss["A"].ticks == 1  # all or nothing: B not added, A not ticked
    out = ss.update_many({"B": 50.0, "Z": 10.0}, at="2012-01-03", errors="skip")
    assert list(out) == ["B"] and list(ss.rejected) == ["Z"] and list(ss) == ["A", "B"]


def test_a_resealed_but_impossible_panel_part_is_refused(saved, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # a checksum recomputed after the edit still cannot describe an impossible model
    _, folder, _ = saved
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    manifest["panel"]["levels"]["C"] = -1.0
    (tmp_path / "manifest.json").write_text(json.dumps(seal_manifest(manifest)))
    (tmp_path / "model.safetensors").write_bytes((Path(folder) / "model.safetensors").read_bytes())
    with pytest.raises(ModelFileError, match=r"panel part is malformed .* 'C': its level -1.0"):
        GlobalRecurrentVariance.load(tmp_path)


def test_signed_folder_needs_its_key(saved, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    m, _, _ = saved
    (tmp_path / "a.key").write_text(secrets.token_hex(32))
    (tmp_path / "b.key").write_text(secrets.token_hex(32))
    m.save(tmp_path / "signed", signing_key=tmp_path / "a.key")
    ok = GlobalRecurrentVariance.load(tmp_path / "signed", signing_key=tmp_path / "a.key")
    assert ok.levels_ == m.levels_
    with pytest.raises(ModelFileError, match="key id"):
        GlobalRecurrentVariance.load(tmp_path / "signed", signing_key=tmp_path / "b.key")


def test_the_stream_sets_state_resumes_in_a_set_from_the_folder(stream_panel, saved) -> None:  # type: ignore[no-untyped-def]
    m, folder, panel = saved
    cut = pd.Timestamp("2010-06-01")
    before = {n: df.loc[df.index < cut] for n, df in panel.items()}
    after = {n: df.loc[df.index >= cut] for n, df in panel.items()}
    whole = stream_panel(m.stream_set(), panel)
    first = m.stream_set()
    stream_panel(first, before)
    again = GlobalRecurrentVariance.load(folder, device="cpu").stream_set()
    again.load_state(first.state())
    resumed = stream_panel(again, after)
    for n in panel:
        # the first forecast after the cut was made before it (shift): compare from the second
        got, want = resumed[n].iloc[1:], whole[n].loc[after[n].index].iloc[1:]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    # each instrument's state is tied to its own view: B's state is not A's
    assert again["A"].fingerprint != again["B"].fingerprint
