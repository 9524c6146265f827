"""gatecast.nn layer."""
