"""``python -m ridestream.cli``: the ``rides`` command."""

from ridestream.cli import main

main()
