"""TLS from config files, and the serve / subscribe commands end to end."""

import asyncio
import datetime
import json
import os
import signal
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from quoteflow.errors import ConfigError
from quoteflow.gateway.client import GatewayClient
from quoteflow.gateway.hub import Hub
from quoteflow.gateway.server import GatewayServer
from quoteflow.gateway.service import Gateway
from tests.gateway.conftest import CHANNELS, publish

QUOTEFLOW = [str(Path(sys.executable).parent / "quoteflow")]


def self_signed(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    return certfile, keyfile


async def test_tls_serves_wss_and_https_with_the_configured_certificate(tmp_path, keys):
    certfile, keyfile = self_signed(tmp_path)
    _, text = keys.create("acme", channels=["quotes.enriched"], instruments=["*"])
    gateway = Gateway(Hub(), keys, CHANNELS)
    publish(gateway, ["AMZN"])
    server = GatewayServer(gateway, port=0, certfile=str(certfile), keyfile=str(keyfile))
    await server.start()
    try:
        assert server.stream_url.startswith("wss://localhost:")
        trusted = ssl.create_default_context(cafile=str(certfile))
        client = GatewayClient(server.stream_url, text, {"quotes.enriched": ["*"]},
                               ssl_context=trusted)  # fmt: skip
        record = await asyncio.wait_for(anext(aiter(client)), 10)
        assert record["instrument"] == "AMZN"
        health = await asyncio.to_thread(
            lambda: urllib.request.urlopen(server.url + "/health", context=trusted).read()
        )
        assert json.loads(health)["status"] == "ok"
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            await asyncio.to_thread(urllib.request.urlopen, server.url + "/health")
    finally:
        await server.stop()


async def test_unusable_tls_files_and_taken_ports_are_clear_errors(tmp_path, keys):
    gateway = Gateway(Hub(), keys, CHANNELS)
    missing = GatewayServer(gateway, port=0, certfile=str(tmp_path / "no.pem"),
                            keyfile=str(tmp_path / "no.key"))  # fmt: skip
    with pytest.raises(ConfigError, match="TLS certificate or key"):
        await missing.start()
    first = GatewayServer(gateway, port=0)
    await first.start()
    try:
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{first.port}"):
            await GatewayServer(gateway, port=first.port).start()
    finally:
        await first.stop()


def test_serve_and_subscribe_commands_deliver_the_feed(tmp_path):
    env = {
        **os.environ,
        "QUOTEFLOW_GATEWAY__KEYS_DB": str(tmp_path / "keys.db"),
        "QUOTEFLOW_GATEWAY__AUDIT_LOG": str(tmp_path / "audit.jsonl"),
        "QUOTEFLOW_LAKE__ROOT": str(tmp_path / "lake"),
        "QUOTEFLOW_SYNTHETIC__INSTRUMENTS": "2",
    }
    created = subprocess.run(
        [*QUOTEFLOW, "keys", "create", "--name", "me", "--channels", "quotes.enriched",
         "--instruments", "SYN01"],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    key = created.stdout.strip()
    serving = subprocess.Popen([*QUOTEFLOW, "serve", "--port", "0", "--speed", "30"],
                               stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        lines = iter(serving.stderr.readline, "")
        banner = next(line for line in lines if "gateway on " in line)
        url = banner.split("gateway on ")[1].split()[0]
        subscribed = subprocess.run(
            [*QUOTEFLOW, "subscribe", "--channel", "quotes.enriched", "--instruments", "SYN01",
             "--url", url, "--count", "5"],
            capture_output=True, text=True, env={**env, "QUOTEFLOW_API_KEY": key}, timeout=120,
        )  # fmt: skip
        assert subscribed.returncode == 0, subscribed.stderr
        records = [json.loads(line) for line in subscribed.stdout.splitlines()]
        assert len(records) == 5 and {r["instrument"] for r in records} == {"SYN01"}
        refused = subprocess.run(
            [*QUOTEFLOW, "subscribe", "--channel", "alerts", "--url", url],
            capture_output=True, text=True, env={**env, "QUOTEFLOW_API_KEY": key}, timeout=120,
        )  # fmt: skip
        assert refused.returncode == 2 and "not entitled to alerts" in refused.stderr
        assert key not in (tmp_path / "audit.jsonl").read_text()
    finally:
        serving.send_signal(signal.SIGTERM)
        serving.communicate(timeout=60)
    assert serving.returncode == 0
