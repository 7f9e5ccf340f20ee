"""``python -m headstart``: the same command line as ``headstart``, reading an interrupt from its start (``console``)."""

from headstart.console import main

main()
