import os

import pytest

from quoteflow.app.settings import load_settings
from quoteflow.config import MASK, masked, to_toml
from quoteflow.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("QUOTEFLOW_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def write(path, text, mode=0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def test_defaults_without_any_file():
    assert load_settings().bus.partitions == 4


def test_file_then_environment_override(tmp_path, monkeypatch):
    path = write(tmp_path / "q.toml", "[bus]\npartitions = 8\ncapacity = 50\n")
    monkeypatch.setenv("QUOTEFLOW_BUS__PARTITIONS", "3")
    settings = load_settings(path)
    assert (settings.bus.partitions, settings.bus.capacity) == (3, 50)


def test_file_found_from_env_var_and_working_directory(tmp_path, monkeypatch):
    write(tmp_path / "quoteflow.toml", "[synthetic]\ninstruments = 3\n")
    assert load_settings().synthetic.instruments == 3
    other = write(tmp_path / "other.toml", "[synthetic]\ninstruments = 5\n")
    monkeypatch.setenv("QUOTEFLOW_CONFIG", str(other))
    assert load_settings().synthetic.instruments == 5


def test_secrets_are_masked_everywhere_they_are_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("QUOTEFLOW_ALPACA__SECRET_KEY", "s3cr3t-value")
    settings = load_settings()
    assert settings.alpaca.secret_key.get_secret_value() == "s3cr3t-value"
    assert masked(settings)["alpaca"]["secret_key"] == MASK
    assert "s3cr3t-value" not in repr(settings) and "s3cr3t-value" not in str(masked(settings))


def test_file_with_secret_readable_by_others_is_refused(tmp_path):
    path = write(tmp_path / "q.toml", '[alpaca]\nsecret_key = "abc"\n', mode=0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_settings(path)
    path.chmod(0o600)
    assert load_settings(path).alpaca.secret_key.get_secret_value() == "abc"


def test_world_readable_file_without_secrets_is_fine(tmp_path):
    path = write(tmp_path / "q.toml", "[bus]\npartitions = 2\n", mode=0o644)
    assert load_settings(path).bus.partitions == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[bus]\npartitions = 0\n", "bus.partitions"),
        ("[bus]\nparttions = 2\n", "bus.parttions"),
        ("[nope]\nx = 1\n", "nope"),
        ("[bus\n", "cannot be read"),
    ],
)
def test_invalid_file_gives_clear_error(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path / "q.toml", text))


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_an_alert_rule_set_to_false_is_off_and_config_show_says_so(tmp_path):
    path = tmp_path / "quoteflow.toml"
    path.write_text("[enrich.alerts]\nsma_cross = false\nrsi_period = false\n")
    settings = load_settings(path)
    assert settings.enrich.alerts.sma_cross is None
    assert settings.enrich.alerts.rsi_period is None
    assert settings.enrich.alerts.volume_spike_factor == 3.0
    shown = to_toml(settings)
    assert "sma_cross = false" in shown and "rsi_period = false" in shown
    again = tmp_path / "again.toml"
    again.write_text(shown)
    assert load_settings(again).enrich.alerts == settings.enrich.alerts


def test_an_sma_cross_without_two_periods_says_what_it_needs(tmp_path):
    path = tmp_path / "quoteflow.toml"
    path.write_text("[enrich.alerts]\nsma_cross = []\n")
    with pytest.raises(ConfigError, match=r"sma_cross: give two SMA periods"):
        load_settings(path)
