"""``python -m pioreactor_kernel`` is ``pio``."""

from pioreactor_kernel.entry import main

main()
