"""The dashboard's configuration (TOML), validated with errors that name the file and key.

It is the collector's file plus a ``[dashboard]`` section, so one ``server.toml`` serves both
``ihanoi-broker collect`` and ``ihanoi-broker serve``: the database and MQTT settings are
written once. See ``broker/web/dashboard.example.toml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from broker.collector.config import (
    CampaignSettings,
    CollectorSettings,
    DatabaseSettings,
    MetricsSettings,
    MqttSettings,
    relative_paths,
    relative_to,
)
from ihanoi.contract.errors import ConfigError
from ihanoi.contract.tomlconf import load_model, read_toml


class DashboardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    auth: Literal["users", "proxy"] = Field(
        "users", description="users: login form against users_file; proxy: the reverse proxy has "
                             "authenticated and names the user in proxy_user_header")
    users_file: Path = Path("dashboard-users.toml")
    proxy_user_header: str = "X-Remote-User"
    session_secret_file: Path = Path("dashboard-secret")
    session_hours: int = Field(12, ge=1, le=24 * 30)
    secure_cookie: bool = Field(False, description="true when the page is served over HTTPS (the proxy)")
    snapshot_dir: Path = Field(Path("snapshots"), description="latest board snapshot per device: <device>.png")
    commands: bool = Field(True, description="operators may send play-now / snapshot commands over MQTT")

    @model_validator(mode="after")
    def _proxy(self):
        if self.auth == "proxy" and not self.proxy_user_header:
            raise ValueError("auth = 'proxy' needs proxy_user_header")
        return self


class DashboardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dashboard: DashboardSettings = DashboardSettings()
    broker: MqttSettings = MqttSettings()
    database: DatabaseSettings = DatabaseSettings()
    registry: Path | None = None
    # The collector's section may share the file; its offline_after_s is the one threshold
    # for "offline", in the report, on the fleet page and in /metrics.
    collector: CollectorSettings = CollectorSettings()
    metrics: MetricsSettings = MetricsSettings()
    campaigns: CampaignSettings = CampaignSettings()

    def session_secret(self) -> str:
        path = self.dashboard.session_secret_file
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(path, [("", f"dashboard.session_secret_file cannot be read ({exc.strerror}); "
                                          "make one with: head -c 32 /dev/urandom | base64 > FILE")]) from None
        if len(secret) < 16:
            raise ConfigError(path, [("", "the session secret is shorter than 16 characters; "
                                          "make one with: head -c 32 /dev/urandom | base64 > FILE")])
        return secret


def load_dashboard_config(path: Path | str | None) -> DashboardConfig:
    """The config at ``path`` (all defaults when None); relative paths are relative to the file."""
    if path is None:
        return DashboardConfig()
    path = Path(path)
    config = load_model(DashboardConfig, path, read_toml(path))
    base = path.parent
    d = config.dashboard
    dashboard = d.model_copy(update={k: relative_to(base, getattr(d, k))
                                     for k in ("users_file", "session_secret_file", "snapshot_dir")})
    return config.model_copy(update={"dashboard": dashboard, **relative_paths(config, base)})
