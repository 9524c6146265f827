"""gatecast.plots layer."""
