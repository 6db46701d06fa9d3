"""Where the database is and who is acting: flags, then environment, then config, then defaults.

The config file (optional) is ``<user config dir>/regdesk/config.toml``::

    database_url = "postgresql://user@host/regdesk"
    operator = "approver1"

    [smtp]
    host = "smtp.example.com"
    port = 587
    security = "starttls"   # starttls | tls | none
    user = "regdesk"
    password_env = "REGDESK_SMTP_PASSWORD"
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APP_NAME = "regdesk"


def data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(os.environ.get("REGDESK_DATA_DIR") or user_data_dir(APP_NAME, appauthor=False))


def config_path() -> Path:
    if os.environ.get("REGDESK_CONFIG"):
        return Path(os.environ["REGDESK_CONFIG"])
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'regdesk.db'}"


def load_config(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    if not path.exists():
        return {}
    import tomllib  # only when there is a file to read (start-up time)

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SystemExit(f"regdesk: cannot read {path}: {exc}") from None


@dataclass
class Settings:
    database_url: str
    operator: str
    smtp: dict[str, Any] = field(default_factory=dict)
    # the operator named by --as, REGDESK_OPERATOR or the config file (None: nobody was named,
    # ``operator`` is the OS login); services.identity decides whether the naming is allowed
    operator_named: str | None = None


def resolve(db: str | None = None, operator: str | None = None) -> Settings:
    config = load_config()
    url = db or os.environ.get("REGDESK_DATABASE_URL") or config.get("database_url") or default_database_url()
    named = operator or os.environ.get("REGDESK_OPERATOR") or config.get("operator") or None
    who = named or _os_login()
    smtp = dict(config.get("smtp", {}))
    for key in ("host", "port", "security", "user", "password", "timeout"):
        env = os.environ.get(f"REGDESK_SMTP_{key.upper()}")
        if env:
            smtp[key] = env
    if "password_env" in smtp and "password" not in smtp:
        smtp["password"] = os.environ.get(str(smtp["password_env"]), "")
    return Settings(database_url=url, operator=who, smtp=smtp, operator_named=named)


def _os_login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return ""
