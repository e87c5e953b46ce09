"""The Kafka adapter: every use of confluent_kafka (admin, consumer, producer, errors) lives here."""
