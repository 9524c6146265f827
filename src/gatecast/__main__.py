"""`python -m gatecast` runs the command-line interface."""

from gatecast.cli.app import main

main()
