"""The collector's configuration (TOML), validated with errors that name the file and key.

See ``broker/collector.example.toml`` for every setting with its default.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ihanoi.contract.errors import ConfigError
from ihanoi.contract.protocol import DEFAULT_PREFIX
from ihanoi.contract.tomlconf import load_model, read_toml

CLIENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TLSSettings(_Section):
    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pair(self):
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (client certificate): give both or neither")
        return self


class MqttSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password_file: Path | None = None
    keepalive: int = Field(60, ge=5, le=600)
    tls: TLSSettings | None = None

    def password(self) -> str | None:
        if self.password_file is None:
            return None
        try:
            return self.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(self.password_file, [("", f"broker.password_file cannot be read: {exc.strerror}")]) from None


class CollectorSettings(_Section):
    client_id: str = Field("ihanoi-collector-1", pattern=CLIENT_ID,
                           description="fixed: the broker keeps this collector's session under it")
    share_group: str = Field("ihanoi-collectors", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    topic_prefix: str = DEFAULT_PREFIX
    batch_size: int = Field(500, ge=1, le=20_000, description="events per database commit at most")
    batch_latency_ms: int = Field(200, ge=1, le=60_000, description="longest an event waits for its batch")
    receipts: bool = Field(True, description="tell each board which of its events are stored "
                                             "(cmd/<device>/stored), so it keeps them until then")
    receive_maximum: int = Field(2000, ge=1, le=65_535,
                                 description="unacknowledged messages the broker may send ahead")
    session_expiry_s: int = Field(14 * 86400, ge=60, description="how long the broker keeps the session while the collector is down")
    offline_after_s: int = Field(180, ge=30, description="a device silent this long counts as offline")

    @model_validator(mode="after")
    def _window(self):
        if self.receive_maximum < self.batch_size:
            raise ValueError(f"receive_maximum ({self.receive_maximum}) must be at least batch_size "
                             f"({self.batch_size}), or batches never fill")
        return self


class DatabaseSettings(_Section):
    # Without a config file: var/ under the working folder (the demo's); in a config file a
    # relative path is relative to the file.
    url: str = "sqlite:///var/ihanoi-collector.sqlite3"

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.split(":", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "postgres"):
            raise ValueError("a sqlite:///PATH or postgresql://USER@HOST/DB URL")
        return value


class MetricsSettings(_Section):
    port: int = Field(0, ge=0, le=65535, description="Prometheus /metrics port; 0 = off")
    host: str = "127.0.0.1"


class CampaignSettings(_Section):
    signing_key: Path | None = Field(None, description="the private content key (Ed25519 PEM) campaign sets are "
                                                       "signed with; the boards trust its public half")


class CollectorConfig(_Section):
    broker: MqttSettings = MqttSettings()
    collector: CollectorSettings = CollectorSettings()
    database: DatabaseSettings = DatabaseSettings()
    metrics: MetricsSettings = MetricsSettings()
    campaigns: CampaignSettings = CampaignSettings()
    registry: Path | None = Field(None, description="units registry; default ihanoi/contract/units.toml or $IHANOI_REGISTRY")


def load_collector_config(path: Path | str | None) -> CollectorConfig:
    """The config at ``path``; all defaults when ``path`` is None."""
    if path is None:
        return CollectorConfig()
    path = Path(path)
    config = load_model(CollectorConfig, path, read_toml(path))
    return config.model_copy(update=relative_paths(config, path.parent))


def relative_to(base: Path, value: Path | None) -> Path | None:
    """Relative paths in a config file are relative to the file, not to wherever it was started."""
    return value if value is None or value.is_absolute() else base / value


def relative_database_url(base: Path, url: str) -> str:
    """``sqlite:///var/x.sqlite3`` in a config file means var/x.sqlite3 beside the file, as
    every other path there; absolute paths, in-memory databases and PostgreSQL stay as given."""
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme.split("+", 1)[0] != "sqlite":
        return url
    path, query, params = rest.partition("?")
    if not path or path.startswith("/") or path == ":memory:" or path.startswith("file:"):
        return url
    return f"{scheme}:///{(base / path).absolute()}{query}{params}"


def relative_paths(config, base: Path) -> dict:
    """The updates that resolve a server config's shared paths (registry, MQTT password, a SQLite
    database, the campaign signing key) against ``base``, the config file's folder."""
    updates = {"registry": relative_to(base, config.registry),
               "database": config.database.model_copy(update={"url": relative_database_url(base, config.database.url)})}
    if config.campaigns.signing_key:
        updates["campaigns"] = config.campaigns.model_copy(
            update={"signing_key": relative_to(base, config.campaigns.signing_key)})
    if config.broker.password_file:
        updates["broker"] = config.broker.model_copy(
            update={"password_file": relative_to(base, config.broker.password_file)})
    return updates
