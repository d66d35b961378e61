"""Kafka from Python, on confluent-kafka (librdkafka): admin checks, datagen, producing rides."""
