"""Middlewares from plugins: found through the ``omniline.middlewares`` entry points, placed by
the config's ``middlewares:`` list, their settings checked by the plugin's own model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from omniline import ConfigError, MessageContext, PluginError, Router
from omniline.cli import cli
from omniline.model import InboundEvent
from omniline.pipeline import MiddlewareHost, MiddlewarePlugin, Next
from omniline.testing import Kit
from tests.conftest import Site, echo_bot

BLOCKLIST = """
    from pydantic import BaseModel, Field
    from omniline.pipeline import MiddlewarePlugin

    class Settings(BaseModel):
        blocked: list[str] = Field(min_length=1)

    def make(settings, host):
        async def blocklist(call_next, event, ctx):
            if event.identity.external_id in settings.blocked:
                ctx.state["blocked_by"] = host.name
                return
            await call_next(event, ctx)
        return blocklist

    plugin = MiddlewarePlugin(
        name="blocklist", config_model=Settings, factory=make, before="bot"
    )
"""


@pytest.fixture
def blocklist(site: Site) -> Site:
    site.install(
        "omniline-blocklist", "thirdparty_blocklist", BLOCKLIST, "blocklist", "omniline.middlewares"
    )
    return site


async def test_an_installed_middleware_plugin_runs_where_the_plugin_places_it(
    blocklist: Site,
) -> None:
    config = [{"type": "blocklist", "settings": {"blocked": ["spammer"]}}]
    async with Kit(bot=echo_bot(), middlewares=config) as kit:
        order = kit.app.middlewares.order
        assert order.index("blocklist") == order.index("bot") - 1
        spammer, ann = kit.client("spammer"), kit.client("ann")
        stored = await spammer.says("buy now")
        await ann.says("hello")
        await kit.settle()
        assert spammer.received == []
        assert ann.received == ["echo: hello"]
        # The blocked message is kept, and handled: recovery does not run it again.
        history = await kit.app.store.dialogs.messages(stored.dialog_id)
        assert [m.text for m in history] == ["buy now"]
        assert await kit.app.recover() == 0


async def test_the_config_places_a_plugin_middleware_elsewhere_and_names_it(
    blocklist: Site,
) -> None:
    config = [
        {"type": "blocklist", "settings": {"blocked": ["a"]}, "after": "errors"},
        {"type": "blocklist", "name": "vip_block", "settings": {"blocked": ["b"]}},
    ]
    async with Kit(bot=echo_bot(), middlewares=config) as kit:
        order = kit.app.middlewares.order
        assert order[:2] == ["errors", "blocklist"]
        assert order.index("vip_block") == order.index("bot") - 1
        await kit.client("a").says("hi")
        await kit.client("b").says("hi")
        await kit.client("c").says("hi")
        await kit.settle()
        assert [kit.client(x).received for x in "abc"] == [[], [], ["echo: hi"]]


class Counted(BaseModel):
    key: str = "seen"


def counter_plugin() -> MiddlewarePlugin[Counted]:
    """Counts messages in the middleware's durable state (one instance, many processes)."""

    def make(settings: Counted, host: MiddlewareHost) -> Any:
        async def count(call_next: Next, event: InboundEvent, ctx: MessageContext) -> None:
            seen = int(await host.state.get(settings.key) or 0)
            await host.state.put(settings.key, str(seen + 1))
            ctx.state["seen"] = seen + 1
            await call_next(event, ctx)

        return count

    return MiddlewarePlugin(name="counter", config_model=Counted, factory=make, after="dialog")


async def test_a_plugin_middleware_keeps_durable_state_of_its_own(tmp_path: Path) -> None:
    bot = Router()

    @bot.message()
    async def seen(ctx: MessageContext) -> None:
        ctx.reply(f"message #{ctx.state['seen']}")

    url = f"sqlite:///{tmp_path / 'kit.db'}"
    plugins = {"counter": counter_plugin()}
    config = [{"type": "counter", "name": "tally"}]
    async with Kit(
        bot=bot, database_url=url, middlewares=config, middleware_plugins=plugins
    ) as kit:
        ann = kit.client("ann")
        await ann.says("one")
        await kit.settle()
        await ann.says("two")
        await kit.settle()
        assert ann.received == ["message #1", "message #2"]
    async with Kit(
        bot=bot, database_url=url, middlewares=config, middleware_plugins=plugins
    ) as kit:
        ann = kit.client("ann")
        await ann.says("three", event_id="after-restart")
        await kit.settle()
        assert ann.last == "message #3"
        assert await kit.app.store.state.load("middleware:tally", "seen") == "3"


async def test_a_plugin_middleware_with_bad_settings_is_refused_naming_the_key(
    blocklist: Site,
) -> None:
    kit = Kit(middlewares=[{"type": "blocklist", "settings": {"blocked": []}}])
    with pytest.raises(ConfigError, match=r"middlewares\[0\]\.settings\.blocked"):
        await kit.app.start()
    await kit.close()


async def test_an_unknown_middleware_plugin_names_the_entry_and_what_is_installed(
    blocklist: Site,
) -> None:
    kit = Kit(middlewares=[{"type": "nope", "after": "bot"}])
    with pytest.raises(ConfigError) as err:
        await kit.app.start()
    await kit.close()
    assert str(err.value).startswith("middlewares[0]: no middleware plugin 'nope'")
    assert "installed: blocklist" in str(err.value)


async def test_a_middleware_without_a_place_is_refused() -> None:
    unplaced = MiddlewarePlugin(name="u", config_model=Counted, factory=lambda s, h: None)  # type: ignore[arg-type,return-value]
    kit = Kit(middlewares=[{"type": "u"}], middleware_plugins={"u": unplaced})
    with pytest.raises(ConfigError, match=r"middlewares\[0\]: say where the 'u' middleware runs"):
        await kit.app.start()
    await kit.close()


async def test_two_middlewares_of_one_name_are_refused(blocklist: Site) -> None:
    entry = {"type": "blocklist", "settings": {"blocked": ["x"]}}
    kit = Kit(middlewares=[entry, entry])
    with pytest.raises(ConfigError, match=r"middlewares\[1\]: a second middleware named"):
        await kit.app.start()
    await kit.close()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": "x", "before": "bot", "after": "bot"}, "give before or after, not both"),
        ({"type": "x", "before": "boot"}, "'boot' is not a built-in middleware"),
        ({"type": "x", "before": "bot", "extra": 1}, "extra"),
    ],
)
def test_the_config_checks_where_a_middleware_goes(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Kit(middlewares=[entry])


def test_a_plugin_that_places_itself_at_an_unknown_built_in_is_refused() -> None:
    with pytest.raises(PluginError, match="unknown built-in middleware 'boot'"):
        MiddlewarePlugin(name="m", config_model=Counted, factory=lambda s, h: None, before="boot")  # type: ignore[arg-type,return-value]


CONFIG = """
storage: {{url: "sqlite:///{db}"}}
lines:
  - id: support
    name: Support
    channels:
      - type: webchat
        account: site
        settings: {webchat}
middlewares:
  - type: blocklist
    settings: {blocklist}
"""


def check(tmp_path: Path, webchat: str, blocklist: str) -> Any:
    path = tmp_path / "omniline.yaml"
    db = tmp_path / "omniline.db"
    path.write_text(CONFIG.format(db=db, webchat=webchat, blocklist=blocklist))
    return CliRunner().invoke(cli, ["check-config", "-c", str(path)])


def test_check_config_loads_the_plugins_and_checks_their_settings(
    blocklist: Site, tmp_path: Path
) -> None:
    secret = '{secret: "0123456789abcdef0123456789"}'
    good = check(tmp_path, secret, "{blocked: [spammer]}")
    assert good.exit_code == 0, good.output
    assert "OK (1 line(s), 1 channel(s), 2 plugin(s))" in good.output

    bad = check(tmp_path, secret, "{blocked: []}")
    assert bad.exit_code != 0
    assert "omniline.yaml: middlewares[0].settings.blocked" in bad.output

    typo = check(tmp_path, '{secrett: "x"}', "{blocked: [spammer]}")
    assert typo.exit_code != 0
    assert "lines[0].channels[0].settings.secrett: unknown key" in typo.output
