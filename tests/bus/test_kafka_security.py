"""Security settings for production brokers, and what the test broker lets us check of them.

The Tansu broker of the tests offers SASL/SCRAM-SHA-512 with ``--authentication``
but cannot store users (it accepts AlterUserScramCredentials and keeps nothing),
and it does not serve TLS. So the tests check that the settings reach the
broker's SCRAM handshake and that a refusal is a clear error without the
password; a successful login, PLAIN and TLS are not tested here.
"""

import logging

import pytest

from quoteflow.app.settings import Settings
from quoteflow.bus.config import BusSettings
from quoteflow.bus.kafka import KafkaBus
from quoteflow.config import masked
from quoteflow.errors import BusError
from tests.broker import tansu_broker

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


def test_scram_credentials_reach_the_broker_and_a_refusal_says_so_without_the_password(caplog):
    settings = BusSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                           sasl_username="alice", sasl_password=PASSWORD)  # fmt: skip
    caplog.set_level(logging.DEBUG)
    with tansu_broker("--authentication") as broker:
        bus = KafkaBus(broker, client=settings.kafka_client())
        with pytest.raises(BusError, match=r"authentication failed.*unknown-user") as refused:
            bus.ensure_topics(["quotes"])
    assert "check the bus security settings" in str(refused.value)
    assert PASSWORD not in str(refused.value) and PASSWORD not in caplog.text
