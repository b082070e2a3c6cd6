"""The bus on a Kafka cluster: topics, consumer groups, and stages that commit exactly once."""

from quoteflow.bus.kafka.bus import KafkaBus, KafkaConsumer
from quoteflow.bus.kafka.stage import KafkaStageSession, changelog_topic

__all__ = ["KafkaBus", "KafkaConsumer", "KafkaStageSession", "changelog_topic"]
