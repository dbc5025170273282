"""pio-cluster: leader and workers (discovery, inventory, the per-unit agent, ``pios`` commands)."""

__version__ = "0.1.0"
