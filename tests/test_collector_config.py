"""The collector's configuration: the shipped example is valid, mistakes name the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.cli import main as broker_main
from broker.collector.config import load_collector_config
from ihanoi.contract.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "broker/collector.example.toml"


def test_the_example_config_is_valid_and_matches_the_defaults():
    config = load_collector_config(EXAMPLE)
    assert config.collector.client_id == "ihanoi-collector-1"
    assert config.collector.batch_size <= config.collector.receive_maximum
    # Its relative SQLite path is relative to the example file; everything else is the default.
    assert config.database.url == f"sqlite:///{EXAMPLE.parent.absolute() / 'var/ihanoi-collector.sqlite3'}"
    defaults = load_collector_config(None)
    assert config.model_copy(update={"database": defaults.database}) == defaults.model_copy(update={"registry": None})


@pytest.mark.parametrize("text, key", [
    ('[collector]\nbatch_size = 0\n', "collector.batch_size"),
    ('[collector]\nbatch_size = 5000\nreceive_maximum = 100\n', "collector"),
    ('[collector]\nclient_id = "has space"\n', "collector.client_id"),
    ('[database]\nurl = "mysql://x/y"\n', "database.url"),
    ('[broker]\nprot = 1883\n', "broker.prot"),
    ('[broker.tls]\nca_file = "ca.crt"\ncert_file = "c.crt"\n', "broker.tls"),
])
def test_a_mistake_names_the_file_and_the_key(tmp_path, text, key):
    path = tmp_path / "collector.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_collector_config(path)
    assert err.value.path == str(path)
    assert any(k == key for k, _ in err.value.problems), err.value.problems


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    path = tmp_path / "etc" / "collector.toml"
    path.parent.mkdir()
    path.write_text('registry = "units.toml"\n[broker]\npassword_file = "pw"\n', encoding="utf-8")
    config = load_collector_config(path)
    assert config.registry == path.parent / "units.toml"
    assert config.broker.password_file == path.parent / "pw"


def test_check_registry_and_db_upgrade_commands(tmp_path, capsys):
    assert broker_main(["check-registry"]) == 0
    assert ": OK" in capsys.readouterr().out
    url = f"sqlite:///{tmp_path}/x.sqlite3"
    assert broker_main(["db-upgrade", "--database", url]) == 0
    from broker.migrations import head
    assert capsys.readouterr().out.endswith(f"schema (empty) -> {head()}\n")
    assert broker_main(["collect", "--config", str(tmp_path / "missing.toml")]) == 2
