"""The two finders a refusal is built from: the first flagged cell and the first repeated name."""

from __future__ import annotations

import numpy as np
import pytest

from gatecast.data.parsing import first_flagged, first_repeat
from gatecast.errors import ConfigError, GatecastError, ModelFileError, refused_as


def test_first_flagged_gives_the_first_position_and_the_count() -> None:
    assert first_flagged(np.array([False, True, False, True, True])) == (1, 3)
    assert first_flagged(np.zeros(4, dtype=bool)) is None
    assert first_flagged(np.array([], dtype=bool)) is None


def test_first_repeat_gives_the_first_two_items_of_one_name() -> None:
    items = ["AAPL.csv", "msft.csv", "B.csv", "MSFT.parquet", "b.txt"]
    assert first_repeat(items, lambda s: s.split(".")[0].lower()) == ("msft.csv", "MSFT.parquet")
    assert first_repeat(["a", "b"], str.upper) is None


def test_refused_as_turns_stray_exceptions_into_its_kind_and_lets_its_kind_pass() -> None:
    def malformed(exc: Exception) -> str:
        return f"malformed ({type(exc).__name__}: {exc})"

    with pytest.raises(ModelFileError, match=r"^malformed \(KeyError: 'x'\)$") as info:
        with refused_as(ModelFileError, (KeyError, ValueError), malformed):
            {}["x"]
    assert isinstance(info.value.__cause__, KeyError)
    # a ConfigError is a ValueError: caught and turned
    with pytest.raises(ModelFileError, match="ConfigError"):
        with refused_as(ModelFileError, (ValueError,), malformed):
            raise ConfigError("bad")
    own = ModelFileError("as it is")
    with pytest.raises(ModelFileError) as info:
        with refused_as(ModelFileError, (GatecastError,), malformed):
            raise own
    assert info.value is own
    with pytest.raises(TypeError):  # not among the stray: untouched
        with refused_as(ModelFileError, (KeyError,), malformed):
            raise TypeError("other")
