"""``omniline stats``: statistics as tables in the terminal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omniline.cli import _duration, cli
from omniline.config import load_config
from omniline.engine.ports import FieldsAction, LogAction, SendAction, StatusAction
from omniline.model import (
    Accepted,
    ChannelRef,
    Closed,
    DialogStatus,
    Identity,
    InboundEvent,
    InboundMessage,
    OutboundMessage,
    Queued,
)
from omniline.store import open_store
from omniline.testing.clock import VirtualClock

CONFIG = """
storage:
  url: sqlite:///db/omniline.db
operators:
  - {id: anna, name: Anna Petrova}
  - {id: boris, name: Boris}
lines:
  - id: support
    name: Support
    working_hours:
      timezone: UTC
      weekly: {mon-fri: "09:00-18:00"}
    channels:
      - type: webchat
        account: site
        settings: {secret: "0123456789abcdef0123"}
"""

runner = CliRunner()

EXPECTED = """\
Dialogs opened from 2026-01-05 00:00 UTC to 2026-01-06 00:00 UTC, all lines

Overall
dialogs                         3
in working hours                1
out of working hours            2
status bot                      1
status queued                   0
status offered                  0
status active                   1
status closed                   1
channel webchat                 3
messages per dialog, average  1.3
messages per dialog, max        2

Durations       count  average  median     p90
first response      1   1m 35s  1m 35s  1m 35s
time to accept      2      30s     30s     30s
handle time         1   6m 05s  6m 05s  6m 05s

Per line and per operator: averages of durations, messages and ratings.

Line     dialogs  in hours  out of hours  first response  time to accept  handle time  messages  rating
support        3         1             2          1m 35s             30s       6m 05s       1.3    4.00

Operator  name          dialogs  in hours  out of hours  first response  time to accept  handle time  messages  rating
anna      Anna Petrova        1         1             0          1m 35s             30s       6m 05s       2.0    4.00
boris     Boris               1         0             1               -             30s            -       1.0       -
none      no operator         1         0             1               -               -            -       1.0       -

Rating   dialogs
1              0
2              0
3              0
4              1
5              0
rated          1
average     4.00

Active dialogs now  name   dialogs
boris               Boris        1
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "omniline.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def migrate(config: Path) -> None:
    result = runner.invoke(cli, ["db", "upgrade", "-c", str(config)])
    assert result.exit_code == 0, result.output


async def populate(config: Path) -> None:
    """Monday 2026-01-05: one dialog Anna handled from 09:00 (queued at once, accepted after 30 s,
    answered after 1m 35s, closed 6m 05s after accepting, rated 4), one still with the bot at
    20:00 (out of hours), and one that Boris holds."""
    clock = VirtualClock()  # Monday 2026-01-05 09:00 UTC
    store = await open_store(load_config(config).storage.url, clock)
    try:
        for operator_id in ("anna", "boris"):
            await store.operators.save(operator_id, operator_id.title())

        async def client_writes(external_id: str) -> int:
            event = InboundEvent(
                event_id=f"{external_id}-{clock.now().timestamp()}",
                identity=Identity(
                    channel=ChannelRef(type="webchat", account="site"), external_id=external_id
                ),
                message=InboundMessage(text="hello"),
                received_at=clock.now(),
            )
            receipt = await store.inbox.ingest(
                event, line_id="support", initial_status=DialogStatus.BOT
            )
            return receipt.dialog_id

        async def take(dialog_id: int, operator_id: str) -> None:
            await store.dialogs.apply(
                dialog_id,
                [
                    StatusAction(expected=DialogStatus.BOT, status=DialogStatus.QUEUED),
                    LogAction(event=Queued(at=clock.now())),
                ],
            )
            await clock.advance(30)
            await store.dialogs.apply(
                dialog_id,
                [
                    StatusAction(
                        expected=DialogStatus.QUEUED,
                        status=DialogStatus.ACTIVE,
                        operator_id=operator_id,
                    ),
                    LogAction(event=Accepted(at=clock.now(), operator_id=operator_id)),
                ],
            )

        handled = await client_writes("visitor-1")
        await take(handled, "anna")
        await clock.advance(65)
        reply = OutboundMessage(text="Hello, this is Anna.")
        await store.dialogs.apply(
            handled, [SendAction(author="operator:anna", message=reply, parts=(reply,))]
        )
        await clock.advance(300)
        await store.dialogs.apply(
            handled,
            [
                StatusAction(
                    expected=DialogStatus.ACTIVE, status=DialogStatus.CLOSED, operator_id="anna"
                ),
                LogAction(event=Closed(at=clock.now(), actor="operator:anna")),
                FieldsAction(rating=4),
            ],
        )
        await clock.advance(11 * 3600)  # 20:00
        await client_writes("visitor-2")
        await take(await client_writes("visitor-3"), "boris")
    finally:
        await store.close()


def test_stats_prints_the_tables(config: Path) -> None:
    migrate(config)
    asyncio.run(populate(config))

    result = runner.invoke(
        cli, ["stats", "-c", str(config), "--since", "2026-01-05", "--until", "2026-01-05"]
    )

    assert result.exit_code == 0, result.output
    assert result.output == EXPECTED


def test_stats_of_one_line_over_the_last_week_by_default(config: Path) -> None:
    migrate(config)

    result = runner.invoke(cli, ["stats", "-c", str(config), "--line", "support"])

    assert result.exit_code == 0, result.output
    assert ", line support" in result.output
    assert "No dialogs were opened in this range." in result.output
    assert "No dialogs are active now." in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "--since 'last tuesday' is not a date or a date and time"),
        (["--until", "2026-13-01"], "--until '2026-13-01' is not a date or a date and time"),
        (
            ["--since", "2026-01-05", "--until", "2026-01-04"],
            "from 2026-01-05T00:00:00+00:00 to 2026-01-05T00:00:00+00:00 is empty",
        ),
        (["--line", "sales"], "has no line 'sales' (its lines: support)"),
        (["--until", "9999-12-31"], "--until '9999-12-31' is the last day there is"),
        (["--until", "0001-01-02"], "there are no 7 days before --until 0001-01-02"),
    ],
)
def test_stats_says_what_is_wrong_with_its_options(
    config: Path, args: list[str], message: str
) -> None:
    migrate(config)

    result = runner.invoke(cli, ["stats", "-c", str(config), *args])

    assert not isinstance(result.exception, Exception), result.output  # no traceback
    assert result.exit_code == 1
    assert message in result.output


def test_stats_needs_a_migrated_database(config: Path) -> None:
    result = runner.invoke(cli, ["stats", "-c", str(config)])

    assert result.exit_code == 1
    assert "run `omniline db upgrade -c CONFIG` first" in result.output


def test_times_with_an_offset_are_shown_in_utc(config: Path) -> None:
    migrate(config)

    result = runner.invoke(
        cli,
        [
            "stats",
            "-c",
            str(config),
            "--since",
            "2026-01-05T10:00+02:00",
            "--until",
            "2026-01-05T12:30Z",
        ],
    )

    assert result.exit_code == 0, result.output
    assert "from 2026-01-05 08:00 UTC to 2026-01-05 12:30 UTC" in result.output


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "-"),
        (0.4, "0s"),
        (59.4, "59s"),
        (59.6, "1m 00s"),
        (65, "1m 05s"),
        (7380, "2h 03m"),
        (3 * 86400 + 4 * 3600 + 59, "3d 04h"),
    ],
)
def test_durations_are_humanised(seconds: float | None, shown: str) -> None:
    assert _duration(seconds) == shown
