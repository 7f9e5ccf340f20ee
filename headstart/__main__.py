"""``python -m headstart``: the same command line as ``headstart``."""

from headstart.cli import main

main()
