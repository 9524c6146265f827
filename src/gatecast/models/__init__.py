"""gatecast.models layer."""
