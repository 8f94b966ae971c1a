"""The demo's embedded configuration."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from omniline.config.models import Config

DEMO_OPERATORS = {"anna": "Anna Petrova", "boris": "Boris Ivanov"}
DEMO_SUPERVISOR = ("sam", "Sam Supervisor")


def _secret(data_dir: Path) -> str:
    """The web chat's token secret, made once and kept, so visitors keep their history."""
    path = data_dir / "webchat-secret"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    value = secrets.token_urlsafe(32)
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)
    return value


def demo_credentials(data_dir: Path) -> dict[str, str]:
    """The demo accounts' logins and passwords: made at random on the first run and kept in the
    data folder (readable by its owner only), so they stay the same between runs."""
    path = data_dir / "demo-passwords.json"
    if path.exists():
        found = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(found, dict) and all(isinstance(v, str) for v in found.values()):
            return {str(k): str(v) for k, v in found.items()}
    data_dir.mkdir(parents=True, exist_ok=True)
    logins = [*DEMO_OPERATORS, DEMO_SUPERVISOR[0]]
    made = {login: secrets.token_urlsafe(9) for login in logins}
    path.write_text(json.dumps(made, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return made


def demo_config(data_dir: Path, *, host: str = "127.0.0.1", port: int = 8080) -> Config:
    data_dir.mkdir(parents=True, exist_ok=True)
    passwords = demo_credentials(data_dir)
    return Config.model_validate(
        {
            "storage": {"url": f"sqlite:///{(data_dir / 'omniline.db').resolve()}"},
            "server": {"host": host, "port": port},
            "operators": [{"id": k, "name": v} for k, v in DEMO_OPERATORS.items()],
            "accounts": [
                *(
                    {"login": k, "name": v, "role": "operator", "password": passwords[k]}
                    for k, v in DEMO_OPERATORS.items()
                ),
                {
                    "login": DEMO_SUPERVISOR[0],
                    "name": DEMO_SUPERVISOR[1],
                    "role": "supervisor",
                    "password": passwords[DEMO_SUPERVISOR[0]],
                },
            ],
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
