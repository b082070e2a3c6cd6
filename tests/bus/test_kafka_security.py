"""Security settings for production brokers, checked against Apache Kafka's SCRAM listener.

The test broker has a SASL_PLAINTEXT listener with SCRAM-SHA-512; the user is
created through the Admin API, as on MSK or Confluent. A login with the right
password works; a wrong one is a clear error that never shows the password.
TLS comes with the next step of the Kafka issue.
"""

import logging

import pytest
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from quoteflow.app.settings import Settings
from quoteflow.bus.config import BusSettings
from quoteflow.bus.kafka import KafkaBus
from quoteflow.bus.kafka.broker import KafkaBroker
from quoteflow.config import masked
from quoteflow.errors import BusError

PASSWORD = "s3cr3t-Pa55"


def test_security_settings_become_librdkafka_settings():
    settings = BusSettings(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                           sasl_username="quoteflow", sasl_password=PASSWORD,
                           ssl_ca_file="/etc/ssl/ca.pem")  # fmt: skip
    assert settings.kafka_client() == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "quoteflow",
        "sasl.password": PASSWORD,
        "ssl.ca.location": "/etc/ssl/ca.pem",
    }
    assert PASSWORD not in repr(settings) and PASSWORD not in str(masked(Settings(bus=settings)))
    mtls = BusSettings(security_protocol="SSL", ssl_cert_file="c.pem", ssl_key_file="k.pem")
    assert mtls.kafka_client()["ssl.key.location"] == "k.pem"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"security_protocol": "SASL_SSL"},
            "needs sasl_mechanism, sasl_username and sasl_password",
        ),
        ({"sasl_mechanism": "PLAIN"}, "sasl_mechanism needs security_protocol SASL_SSL"),
        ({"security_protocol": "SSL", "ssl_cert_file": "c.pem"}, "go together"),
    ],
)
def test_incomplete_security_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        BusSettings(**settings)


@pytest.fixture(scope="module")
def scram_broker():
    """A broker with a SCRAM-SHA-512 listener and the user ``alice`` (password PASSWORD)."""
    with KafkaBroker(scram=True) as broker:
        admin = AdminClient({"bootstrap.servers": broker.address})
        alice = UserScramCredentialUpsertion(
            "alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), PASSWORD.encode()
        )
        for future in admin.alter_user_scram_credentials([alice]).values():
            future.result(timeout=30)
        yield broker


def _scram(password: str) -> BusSettings:
    return BusSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                       sasl_username="alice", sasl_password=password)  # fmt: skip


def test_a_scram_login_with_the_right_password_works(scram_broker):
    bus = KafkaBus(scram_broker.scram_address, client=_scram(PASSWORD).kafka_client())
    bus.ensure_topics(["quotes"])
    assert "quotes" in bus._existing_topics()


def test_a_wrong_password_is_refused_saying_so_without_the_password(scram_broker, caplog):
    wrong = "not-" + PASSWORD
    caplog.set_level(logging.DEBUG)
    bus = KafkaBus(scram_broker.scram_address, client=_scram(wrong).kafka_client())
    with pytest.raises(BusError, match=r"authentication failed") as refused:
        bus.ensure_topics(["quotes"])
    assert "check the bus security settings" in str(refused.value)
    for secret in (PASSWORD, wrong):
        assert secret not in str(refused.value) and secret not in caplog.text
