"""gatecast.evaluate layer."""
