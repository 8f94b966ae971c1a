"""Fixtures shared by the whole suite."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from omniline import MessageContext, Router


def echo_bot() -> Router:
    """A bot that answers every message with ``echo: <its text>``."""
    bot = Router()

    @bot.message()
    async def echo(ctx: MessageContext) -> None:
        ctx.reply(f"echo: {ctx.text}")

    return bot


class Site:
    """A folder on ``sys.path`` where tests install plugin distributions: a module and its
    ``.dist-info`` with entry points, found by ``importlib.metadata`` like any installed one."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def install(
        self,
        name: str,
        module: str,
        source: str,
        entry: str,
        group: str = "omniline.channels",
    ) -> None:
        (self.root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        info = self.root / f"{name.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            f"[{group}]\n{entry} = {module}:plugin\n", encoding="utf-8"
        )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """Modules installed here must be named ``thirdparty_*``; they are forgotten afterwards."""
    sys.path.insert(0, str(tmp_path))
    try:
        yield Site(tmp_path)
    finally:
        sys.path.remove(str(tmp_path))
        for name in list(sys.modules):
            if name.startswith("thirdparty_"):
                del sys.modules[name]
