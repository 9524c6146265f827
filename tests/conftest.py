"""Suite-wide settings: one torch thread (the nets here are tiny; on a shared 2-core machine extra
intra-op threads only oversubscribe the CPU and slow every test down), and the per-module test
scope of `make mutate`; no model-signing settings from the environment."""

from __future__ import annotations

import os

import pytest

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
