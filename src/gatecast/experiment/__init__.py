"""gatecast.experiment layer."""
