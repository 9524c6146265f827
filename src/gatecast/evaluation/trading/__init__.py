"""Trading on a forecast: positions with the one-day lag built in, costs, performance, PSR/DSR, CSCV PBO.

The one way in is :func:`trade`, which takes forecasts indexed by the date they are *for* (as every
gatecast forecast is) and the realised returns. The forecast for day t+1 is made with information
up to the close of day t; it sets the position w_t at that close, and w_t earns r_{t+1}. The
alignment happens inside :func:`trade` only, so no public call can put a position on the return of
the day whose information produced it. Forecasts that carry the date of the last observation they
used (an ``as_of`` column, as gatecast's walk-forward writes them) are refused when that
date is after the close at which their position is set; every traded column is also screened for
forecasts too good for an honest daily model (:data:`LOOKAHEAD_CORR_CAP`, :data:`LOOKAHEAD_HIT_CAP`),
the mark of a forecast that saw the return it trades. The number of trials behind the deflated
Sharpe ratio and the PBO comes from one rule, :func:`count_trials`.

Its modules, one concept each: `rules` (forecast -> position), `trades` (:func:`trade` and
:class:`Trades`), `lookahead` (the screen), `sharpe` (PSR, DSR), `trials` (N) and `pbo` (CSCV).
"""

from __future__ import annotations

from gatecast.evaluation.trading.lookahead import (
    LOOKAHEAD_CORR_CAP,
    LOOKAHEAD_HIT_CAP,
    LOOKAHEAD_LEVEL,
    LOOKAHEAD_VARIANCE_MARGIN,
)
from gatecast.evaluation.trading.pbo import PBOResult, cscv_pbo
from gatecast.evaluation.trading.rules import (
    PERIODS_PER_YEAR,
    RULE_OF_TARGET,
    RULES,
    Rule,
    RuleName,
)
from gatecast.evaluation.trading.sharpe import (
    SharpeMoments,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    sharpe_moments,
    trial_sharpes,
)
from gatecast.evaluation.trading.trades import (
    COST_LEVELS_BPS,
    DEFAULT_COST_BPS,
    INFORMATION_DATE,
    Trades,
    as_of_named,
    realised_returns,
    trade,
)
from gatecast.evaluation.trading.trials import TRIAL_RULE, TrialSet, count_trials, trial_columns

__all__ = [
    "COST_LEVELS_BPS",
    "DEFAULT_COST_BPS",
    "INFORMATION_DATE",
    "LOOKAHEAD_CORR_CAP",
    "LOOKAHEAD_HIT_CAP",
    "LOOKAHEAD_LEVEL",
    "LOOKAHEAD_VARIANCE_MARGIN",
    "PERIODS_PER_YEAR",
    "RULES",
    "RULE_OF_TARGET",
    "TRIAL_RULE",
    "PBOResult",
    "Rule",
    "RuleName",
    "SharpeMoments",
    "Trades",
    "TrialSet",
    "as_of_named",
    "count_trials",
    "cscv_pbo",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
    "realised_returns",
    "sharpe_moments",
    "trade",
    "trial_columns",
    "trial_sharpes",
]
