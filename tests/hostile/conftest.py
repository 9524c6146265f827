"""The hostile-input corpus: files, folders and streams as a careless or unlucky user makes them.

Every case ends one of two ways: the exact values the user meant, or exit code 2 with one
message that names the fault, no traceback, and nothing left in ``--out``. One tiny model is
trained for the whole corpus (hidden 4, one epoch), so the corpus stays fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .corpus import TINY, accepted, invoke, prices_frame, write_csv


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="session")
def good_csv(corpus_dir: Path) -> Path:
    return write_csv(corpus_dir / "good.csv", prices_frame())


@pytest.fixture(scope="session")
def model_dir(corpus_dir: Path, good_csv: Path) -> Path:
    """One tiny model folder, trained once through the command line (a sequence-mode GRU, so
    a stream answers from its first return)."""
    out = corpus_dir / "model"
    args = ["train", "--data", good_csv, "--out", out, "--test-size", "0.25", *TINY]
    args += ["--mode", "sequence", "--chunks", "2", "--chunk-len", "20", "--burn-in", "2"]
    accepted(invoke(args))
    return out
