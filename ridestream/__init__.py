"""ridestream: PySpark Structured Streaming jobs for taxi-ride events on Kafka."""

__version__ = "0.1.0"
