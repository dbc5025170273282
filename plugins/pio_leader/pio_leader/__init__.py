"""pio-leader: the leader's database, the MQTT-to-database writer, experiments, logs and export."""

__version__ = "0.1.0"
