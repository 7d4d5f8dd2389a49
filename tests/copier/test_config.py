from decimal import Decimal

import pytest

from copier import config
from copier.cli import _parser, build_send_body
from copier.defaults import default_config_text
from core.errors import ConfigError
from core.sizing import SizingMode

GOOD = """
[server]
webhook = "127.0.0.1:8080"
api = "127.0.0.1:8081"
[storage]
url = "sqlite+aiosqlite:///copier-data/copier.db"
[log]
mirror = "copier-data/mirror.jsonl"
[[sources]]
name = "tv"
kind = "tradingview"
token = "env:TV_TOKEN"
[[accounts]]
name = "paper-a"
venue = "paper"
balance = 10000
[[routes]]
source = "tv"
account = "paper-a"
sizing = { mode = "multiplier", factor = 2 }
symbols = { EURUSD = "EURUSD" }
"""


def test_issue_example_parses(monkeypatch, tmp_path):
    monkeypatch.setenv("TV_TOKEN", "s3cret")
    cfg = config.parse(GOOD, path=tmp_path / "c.toml")
    assert cfg.webhook.port == 8080 and cfg.api.port == 8081
    assert cfg.sources[0].token == "s3cret"
    (route,) = cfg.routes
    assert route.sizing.mode is SizingMode.MULTIPLIER and route.sizing.factor == Decimal(2)
    assert route.symbols == {"EURUSD": "EURUSD"}
    assert cfg.accounts[0].venue_config.balance == Decimal(10000)


@pytest.mark.parametrize(
    ("change", "path", "line", "words"),
    [
        (("factor = 2", 'factor = "two"'), "routes[0].sizing.factor", 20, "must be a number"),
        (('mode = "multiplier"', 'mode = "double"'), "routes[0].sizing.mode", 20, "unknown sizing mode"),
        (("balance = 10000", 'balance = 10000\nmode = "sideways"'), "accounts[0].mode", 17, "hedging"),
        (('account = "paper-a"', 'account = "paper-z"'), "routes[0].account", 19, "not defined"),
        (('webhook = "127.0.0.1:8080"', 'webhook = "127.0.0.1:99999"'), "server.webhook", 3, "port"),
        (('venue = "paper"', 'venue = "nasdaq"'), "accounts[0].venue", 15, "unknown venue"),
    ],
)
def test_errors_name_key_path_and_line(monkeypatch, change, path, line, words):
    monkeypatch.setenv("TV_TOKEN", "x")
    with pytest.raises(ConfigError) as info:
        config.parse(GOOD.replace(*change))
    assert info.value.path == path
    assert info.value.line == line
    assert words in str(info.value)
    assert f"{path} (line {line})" in str(info.value)


def test_the_warm_keeper_is_on_by_default_and_can_be_set_or_turned_off(monkeypatch):
    monkeypatch.setenv("TV_TOKEN", "x")
    default = config.parse(GOOD)
    assert (default.warm_interval, default.warm_followers) == (0.002, 1)
    tuned = config.parse(GOOD + "[router]\nwarm_interval = 0\nwarm_followers = 3\n")
    assert (tuned.warm_interval, tuned.warm_followers) == (0.0, 3)
    for bad, path in (
        ("warm_interval = -1", "router.warm_interval"),
        ("warm_interval = 0.00001", "router.warm_interval"),
        ("warm_followers = 1.5", "router.warm_followers"),
    ):
        with pytest.raises(ConfigError) as info:
            config.parse(GOOD + f"[router]\n{bad}\n")
        assert info.value.path == path


def test_process_priority_defaults_to_unchanged_and_is_checked(monkeypatch):
    monkeypatch.setenv("TV_TOKEN", "x")
    assert config.parse(GOOD).nice == 0
    assert config.parse(GOOD + "[process]\nnice = -10\n").nice == -10
    for bad in ("nice = -21", "nice = 20", "nice = 1.5", "nice = true", 'nice = "high"'):
        with pytest.raises(ConfigError) as info:
            config.parse(GOOD + f"[process]\n{bad}\n")
        assert info.value.path == "process.nice"
    assert config.parse(GOOD).cpus is None
    assert config.parse(GOOD + "[process]\ncpus = [2, 3]\n").cpus == frozenset({2, 3})
    for bad in ("cpus = []", "cpus = 0", "cpus = [-1]", 'cpus = ["0"]', "cpus = [true]"):
        with pytest.raises(ConfigError) as info:
            config.parse(GOOD + f"[process]\n{bad}\n")
        assert info.value.path == "process.cpus"
    with pytest.raises(ConfigError) as info:
        config.parse(GOOD + "[process]\nisolate = true\n")
    assert info.value.path == "process.isolate"


def test_missing_env_secret_is_named_without_value(monkeypatch):
    monkeypatch.delenv("TV_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"sources\[0\].token .*TV_TOKEN is not set"):
        config.parse(GOOD)


def test_embedded_default_creates_private_secret(tmp_path):
    text = default_config_text(tmp_path / "data")
    secret = tmp_path / "data" / "secrets" / "tv-token"
    assert secret.stat().st_mode & 0o777 == 0o600
    cfg = config.parse(text)
    assert cfg.sources[0].token == secret.read_text().strip()
    assert [a.name for a in cfg.accounts] == ["paper-a", "paper-b"]
    assert {r.sizing.mode for r in cfg.routes} == {SizingMode.MULTIPLIER, SizingMode.EQUITY_RATIO}
    assert default_config_text(tmp_path / "data") == text  # the secret is kept, not regenerated


def test_send_builds_bodies_for_every_action():
    parse = _parser().parse_args
    assert build_send_body(parse(["send", "buy", "EURUSD", "0.1", "--sl", "1.08", "--tp", "1.09"])) == {
        "action": "open",
        "symbol": "EURUSD",
        "side": "buy",
        "volume": "0.1",
        "sl": "1.08",
        "tp": "1.09",
    }
    assert build_send_body(parse(["send", "close", "EURUSD", "--percent", "50"])) == {
        "action": "close_part",
        "symbol": "EURUSD",
        "volume": "0.5",
        "volume_kind": "fraction",
    }
    assert build_send_body(parse(["send", "modify", "EURUSD", "--side", "buy", "--sl", "1.07"]))["action"] == "modify"
    assert build_send_body(parse(["send", "close_all"])) == {"action": "close_all"}
    limit = build_send_body(parse(["send", "sell", "XAUUSD", "1", "--type", "limit", "--price", "2410"]))
    assert limit["order_type"] == "limit" and limit["price"] == "2410"
