"""The engine's figures over a time range, for the lines a supervisor sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from omniline.console.endpoints import Call
from omniline.console.handlers.common import Context, bad
from omniline.console.schemas import DayCount, StatisticsView

EARLIEST, LATEST = datetime(1971, 1, 1, tzinfo=UTC), datetime(9998, 1, 1, tzinfo=UTC)


class StatisticsQuery(BaseModel):
    since: datetime | None = Field(default=None, description="default: 7 days before `until`")
    until: datetime | None = Field(default=None, description="default: now")
    line: str | None = None


class StatisticsEndpoints:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def statistics(self, call: Call) -> StatisticsView:
        q = call.query_as(StatisticsQuery)
        host = self.ctx.host
        for name, given in (("since", q.since), ("until", q.until)):
            if given is not None and not EARLIEST <= _aware(given) <= LATEST:
                raise bad(f"query.{name}", "must be between 1971 and 9998")
        until = _aware(q.until) if q.until else host.clock.now()
        since = _aware(q.since) if q.since else until - timedelta(days=7)
        if since >= until:
            raise bad("query.since", "must come before until")
        line_id = q.line
        access = self.ctx.access
        visible = await access.visible_lines(call.account)
        if line_id is not None:
            await access.line(call.account, line_id)
        elif visible is not None and len(visible) == 1:
            line_id = visible[0]
        elif visible is not None:
            raise bad("query.line", "give one of your lines: " + ", ".join(visible))
        hours = {i: line.settings.working_hours for i, line in host.lines.items()}
        stats = await host.store.stats.read(since=since, until=until, line_id=line_id, hours=hours)
        by_day = await self.ctx.queries.opened_by_day(
            since=since.timestamp(), until=until.timestamp(), line_id=line_id
        )
        return StatisticsView(
            since=since,
            until=until,
            overall=stats.overall,
            by_line=stats.by_line,
            by_operator=stats.by_operator,
            open_by_operator=stats.open_by_operator,
            by_day=[DayCount(day=day, dialogs=count) for day, count in by_day],
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
