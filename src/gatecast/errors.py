"""The one exception family of gatecast: every message says what is wrong, where, and how to fix it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


class GatecastError(Exception):
    """Base of every error gatecast raises on purpose. The CLI prints it and exits with code 2."""


class DataError(GatecastError):
    """The input data cannot be used as it is."""


class DataFileError(DataError):
    """A data file is missing, unreadable or of an unknown format."""


class MissingDateColumnError(DataError):
    """No date column was found."""


class DateParseError(DataError):
    """A date value cannot be parsed."""


class DuplicateDatesError(DataError):
    """The same date appears more than once."""


class UnsortedDatesError(DataError):
    """Dates are not in increasing order."""


class MissingValueError(DataError):
    """A used column holds NaN or infinite values."""


class NonPositivePriceError(DataError):
    """A price is zero or negative where a log return needs it positive."""


class TooFewRowsError(DataError):
    """Not enough rows for the window, horizon and splits asked for."""


class ConstantSeriesError(DataError):
    """A used column (or its training part) never changes, so it cannot be scaled or learned."""


class UnknownDatasetError(DataError):
    """A bundled dataset name is not known."""


class UnknownColumnError(DataError):
    """A requested column is not in the data."""


class OutlierError(DataError):
    """A value is many orders of magnitude away from its neighbours (a typo or a unit change)."""


class ReplayError(DataError):
    """A stream row is not after the last row the stream's state has consumed."""


class FutureDateError(DataError):
    """A stream row is dated too far ahead: past the next expected bars, or past the clock."""


class StateInUseError(GatecastError):
    """A stream state file is held by another running stream."""


class ConfigError(GatecastError, ValueError):
    """A parameter value is invalid (also a ``ValueError``, as scikit-learn's parameter errors)."""


class UnknownParameterError(ConfigError):
    """``set_params`` was given a name the estimator's constructor does not take (a
    ``ValueError`` too, through :class:`ConfigError`, as scikit-learn raises for one)."""


class NotFittedError(GatecastError, ValueError, AttributeError):
    """A model or scaler was used before `fit` (also a ``ValueError`` and ``AttributeError``,
    as scikit-learn's ``NotFittedError``)."""


class TrainingDivergedError(GatecastError):
    """The training loss became NaN or infinite."""


class AlignmentError(GatecastError, ValueError):
    """Forecasts and actual values are empty, of different shapes, or share no dates."""


class ModelFileError(GatecastError):
    """A model folder is missing, corrupt, or does not match what was asked for."""


class ReportError(GatecastError):
    """A run folder's ``report.html`` cannot be written (not a run folder, or a file of it is
    missing or unreadable)."""


class PanelError(DataError):
    """A panel's layout cannot be used: no instrument column where one is needed, an instrument
    named twice or not at all, or instruments that disagree on their columns."""


@contextmanager
def refused_as(
    kind: type[GatecastError],
    stray: tuple[type[Exception], ...],
    message: Callable[[Exception], str],
) -> Iterator[None]:
    """Run a block whose ``stray`` exceptions become one ``kind`` saying ``message(exc)`` (raised
    from the original); a ``kind`` raised inside passes as it is."""
    try:
        yield
    except kind:
        raise
    except stray as exc:
        raise kind(message(exc)) from exc
