"""pioreactor_kernel: the tiny kernel of a plugin-first bioreactor control stack.

Importing this package is free: nothing here loads plugins, connects to MQTT or
imports third-party code. Use the submodules (`config`, `mqtt`, `job`, ...).
"""

__version__ = "0.1.0"
