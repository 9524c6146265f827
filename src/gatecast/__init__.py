"""gatecast: recurrent networks for financial time series."""

__version__ = "0.1.0"
