"""``python -m pioreactor_kernel`` is ``pio``."""

from pioreactor_kernel.cli import main

main()
