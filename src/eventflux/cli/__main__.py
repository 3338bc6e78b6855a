"""``python -m eventflux.cli``: the ``eventflux`` command without the script."""

from . import main

main()
