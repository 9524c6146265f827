"""gatecast.evaluation layer."""
