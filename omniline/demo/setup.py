"""The demo's embedded configuration."""

from __future__ import annotations

import secrets
from pathlib import Path

from omniline.config.models import Config

DEMO_OPERATORS = {"anna": "Anna Petrova", "boris": "Boris Ivanov"}


def _secret(data_dir: Path) -> str:
    """The web chat's token secret, made once and kept, so visitors keep their history."""
    path = data_dir / "webchat-secret"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    value = secrets.token_urlsafe(32)
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)
    return value


def demo_config(data_dir: Path, *, host: str = "127.0.0.1", port: int = 8080) -> Config:
    data_dir.mkdir(parents=True, exist_ok=True)
    return Config.model_validate(
        {
            "storage": {"url": f"sqlite:///{(data_dir / 'omniline.db').resolve()}"},
            "server": {"host": host, "port": port},
            "operators": [{"id": k, "name": v} for k, v in DEMO_OPERATORS.items()],
            "lines": [
                {
                    "id": "demo",
                    "name": "Acme Coffee support",
                    "bot": "omniline.demo.bot:bot",
                    "handoff_when_unhandled": False,
                    "queue": list(DEMO_OPERATORS),
                    "closing": "Thanks for chatting with us, {client_name|friend}!",
                    "rating": {"enabled": True},
                    "channels": [
                        {
                            "type": "webchat",
                            "account": "site",
                            "settings": {"secret": _secret(data_dir)},
                        }
                    ],
                }
            ],
        }
    )
