"""pio-ui: the live web UI of the cluster (Flask-SocketIO on the leader)."""

__version__ = "0.1.0"
