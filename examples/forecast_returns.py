"""Train a GRU on S&P 500 log returns and compare it with the no-change forecast.

    .venv/bin/python examples/forecast_returns.py
"""

from gatecast.data import TargetSpec, load, make_target
from gatecast.evaluation.metrics import score
from gatecast.models.baselines import HistoricalMean, NoChange
from gatecast.models.recurrent import RecurrentForecaster

df = load("sp500")
history = df.loc[:"2014-12-31"]  # the model never sees a test-period row during fit
model = RecurrentForecaster(cell="gru", window=20, epochs=10, seed=0).fit(history)
forecast = model.predict(df, start="2015-01-01")

actual = make_target(df, TargetSpec("return")).loc[forecast.index]
naive = NoChange().fit(history).predict(df, start="2015-01-01")
mean = HistoricalMean().fit(history).predict(df, start="2015-01-01")
for name, fc in {"gru": forecast, "no_change": naive, "historical_mean": mean}.items():
    m = score("return", actual, fc, naive, mean)
    print(f"{name:>16}: MSE {m['mse']:.4e}  Theil U {m['theil_u']:.4f}  OOS R2 {m['oos_r2']:+.4f}")
