"""VaR and ES from a variance forecast, and their backtests: the issue's Kupiec and
Christoffersen reference values, the Basel zones against the binomial probabilities that define
them, VaR/ES against numerical integration, the Student-t fit, and the Acerbi-Szekely Z2 test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, stats

from gatecast.errors import ConfigError
from gatecast.evaluation.var import (
    acerbi_szekely_z2,
    backtest_var,
    christoffersen_independence,
    conditional_coverage,
    expected_shortfall,
    fit_t_dof,
    kupiec_pof,
    predictive_risk,
    traffic_light,
    transition_counts,
    value_at_risk,
)


@pytest.mark.parametrize(
    ("n", "x", "lr", "p"), [(250, 5, 1.9568, 0.1619), (1006, 18, 5.1284, 0.0235)]
)
def test_kupiec_reference_values(n, x, lr, p) -> None:
    res = kupiec_pof(x, n, 0.01)
    assert res.statistic == pytest.approx(lr, abs=5e-5)
    assert res.pvalue == pytest.approx(p, abs=5e-5)


def test_kupiec_with_no_exceptions_is_finite() -> None:
    res = kupiec_pof(0, 250, 0.01)
    assert res.statistic == pytest.approx(-2 * 250 * np.log(0.99))
    with pytest.raises(ConfigError, match="0 <= exceptions <= n"):
        kupiec_pof(300, 250, 0.01)


def _hits_with_counts(n01: int, n11: int, n00: int) -> np.ndarray:
    """0/1 days: n00 + 1 calm days, then n01 runs of exceptions (n11 of them two long), each
    followed by a calm day; so n10 = n01."""
    runs = [[1, 1]] * n11 + [[1]] * (n01 - n11)
    seq = [0] * (n00 + 1)
    for run in runs:
        seq += [*run, 0]
    return np.array(seq, dtype=bool)


def test_christoffersen_reference_values_and_the_counts_behind_them() -> None:
    res = christoffersen_independence(980, 12, 12, 2)
    assert res.statistic == pytest.approx(6.2022, abs=5e-5)
    assert res.pvalue == pytest.approx(0.0128, abs=5e-5)
    hits = _hits_with_counts(n01=12, n11=2, n00=980)
    assert transition_counts(hits) == (980, 12, 12, 2)
    cc = conditional_coverage(hits, 0.01)
    pof = kupiec_pof(int(hits.sum()), len(hits), 0.01)
    assert cc.statistic == pytest.approx(pof.statistic + res.statistic)
    assert cc.pvalue == pytest.approx(stats.chi2.sf(cc.statistic, 2))


def test_christoffersen_with_n01_not_n10_matches_the_closed_form() -> None:
    """Every other fixture has n01 = n10, where swapping them in the alternative likelihood
    changes nothing; with 3 and 2 the swap moves p from 0.25 to 0.019."""
    n00, n01, n10, n11 = 33, 3, 2, 1
    # 0s, then exceptions at three places, the last a run of two ending the sample
    hits = np.array([0] * 10 + [1] + [0] * 12 + [1] + [0] * 14 + [1, 1], dtype=bool)
    assert transition_counts(hits) == (n00, n01, n10, n11)
    # the two likelihoods as products of transition probabilities (fractions, no logs of counts)
    pi, pi0, pi1 = (n01 + n11) / 39, n01 / (n00 + n01), n11 / (n10 + n11)
    l_iid = (1 - pi) ** (n00 + n10) * pi ** (n01 + n11)
    l_markov = (1 - pi0) ** n00 * pi0**n01 * (1 - pi1) ** n10 * pi1**n11
    lr = -2.0 * np.log(l_iid / l_markov)
    res = christoffersen_independence(n00, n01, n10, n11)
    assert res.statistic == pytest.approx(lr, rel=1e-12)
    assert res.pvalue == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-12)
    assert res.pvalue == pytest.approx(0.2503, abs=5e-5)  # the swapped formula gives 0.0192
    assert res.detail == "n00=33 n01=3 n10=2 n11=1"
    cc = conditional_coverage(hits, 0.05)
    assert cc.statistic == pytest.approx(kupiec_pof(4, len(hits), 0.05).statistic + lr)


def test_basel_zones_follow_the_binomial_probabilities() -> None:
    """Green while P(X <= x) < 95% under 250 days at 1%, red from 99.99% on (Basel, 1996)."""
    for x in range(16):
        cdf = stats.binom.cdf(x, 250, 0.01)
        expected = "green" if cdf < 0.95 else "yellow" if cdf < 0.9999 else "red"
        assert traffic_light(x) == expected, x
    assert [traffic_light(x) for x in (4, 5, 9, 10)] == ["green", "yellow", "yellow", "red"]


@pytest.mark.parametrize("dist", ["normal", "t"])
def test_var_and_es_against_numerical_integration(dist) -> None:
    nu, var = 5.0, 4.0  # sigma = 2 percent
    s = np.sqrt((nu - 2) / nu)
    pdf = (
        (lambda z: stats.norm.pdf(z))
        if dist == "normal"
        else (lambda z: stats.t.pdf(z / s, nu) / s)
    )
    for p in (0.01, 0.025, 0.05):
        q = -float(value_at_risk(var, p, dist, nu)) / 2.0  # the standardised p-quantile
        assert integrate.quad(pdf, -np.inf, q)[0] == pytest.approx(p, rel=1e-7)
        tail = integrate.quad(lambda z: z * pdf(z), -np.inf, q)[0] / p
        assert float(expected_shortfall(var, p, dist, nu)) == pytest.approx(-2.0 * tail, rel=1e-6)
    risk = predictive_risk(pd.Series([4.0, 9.0]), dist, nu)
    assert list(risk.columns) == ["var_1", "var_5", "es_2.5"]
    assert risk["var_1"].iloc[1] / risk["var_1"].iloc[0] == pytest.approx(1.5)


def test_t_degrees_of_freedom_are_the_maximum_likelihood() -> None:
    rng = np.random.default_rng(0)
    sigma2 = rng.uniform(0.5, 4.0, 5000)
    r = np.sqrt(sigma2) * rng.standard_t(5.0, 5000) * np.sqrt(3 / 5)
    nu = fit_t_dof(r, sigma2)

    def nll(v: float) -> float:  # scipy's t density of r / (sigma s), s the unit-variance scale
        s = np.sqrt(sigma2 * (v - 2) / v)
        return -float(np.sum(stats.t.logpdf(r / s, v) - np.log(s)))

    ref = optimize.minimize_scalar(nll, bounds=(2.05, 100), method="bounded").x
    assert nu == pytest.approx(ref, abs=1e-3)
    assert 4.0 < nu < 6.5
    with pytest.raises(ConfigError, match="too few"):
        fit_t_dof(r[:10], sigma2[:10])


def test_acerbi_szekely_z2_by_hand() -> None:
    r = np.array([-3.0, 0.5, -1.0, 1.0])
    var, es = np.full(4, 2.0), np.full(4, 2.5)
    z2, p = acerbi_szekely_z2(r, var, es, 0.25)
    # one exception (-3): Z2 = -3 / (4 x 0.25 x 2.5) + 1 = -0.2
    assert z2 == pytest.approx(-0.2) and np.isnan(p)


def test_backtests_accept_a_true_model_and_reject_a_too_narrow_one() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    sigma2 = pd.Series(rng.uniform(0.5, 3.0, n), index=pd.bdate_range("2010-01-01", periods=n))
    r = np.sqrt(sigma2) * rng.standard_t(6.0, n) * np.sqrt(4 / 6)
    good = backtest_var(r, sigma2, "t", 6.0, level=0.99, sims=500, seed=1)
    assert good.exceptions == int((r < -value_at_risk(sigma2, 0.01, "t", 6.0)).sum())
    assert good.kupiec_p > 0.05 and good.es_p > 0.05 and good.verdict() == "pass"
    assert good.basel_exceptions is not None and good.zone is not None
    bad = backtest_var(r, sigma2 / 4, "normal", level=0.99, sims=500, seed=1)
    assert bad.kupiec_p < 1e-6 and bad.es_z2 < -1 and bad.es_p < 0.01
    assert bad.verdict().startswith("fails kupiec")
    at95 = backtest_var(r, sigma2, "t", 6.0, level=0.95, sims=10)
    assert at95.zone is None  # Basel zones are for 99% VaR
    with pytest.raises(ConfigError, match="degrees of freedom > 2"):
        backtest_var(r, sigma2, "t", 2.0)
