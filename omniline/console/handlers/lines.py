"""Lines and their settings, changed at run time by an admin."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from omniline.console.endpoints import Call, invalid
from omniline.console.handlers.common import Context
from omniline.console.schemas import LineView, Page
from omniline.engine.settings import LineSettings


class LinePage(Page[LineView]):
    pass


_optional_settings: dict[str, Any] = {
    name: (Optional[field.annotation], None)  # noqa: UP045 - a type made at run time
    for name, field in LineSettings.model_fields.items()
    if name != "queue"
}
LineSettingsPatch: type[BaseModel] = create_model(
    "LineSettingsPatch",
    __config__=ConfigDict(extra="forbid"),
    __doc__="Any of a line's settings (see the configuration reference). The result is validated "
    "as a whole before it takes effect. The queue is in the database: not changed here.",
    **_optional_settings,
)


class LineEndpoints:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _line_view(self, line_id: str) -> LineView:
        line = self.ctx.host.lines[line_id]
        return LineView(id=line.id, name=line.name, settings=line.settings.model_dump(mode="json"))

    async def list_lines(self, call: Call) -> LinePage:
        lines = await self.ctx.access.visible_lines(call.account)
        shown = [i for i in self.ctx.host.lines if lines is None or i in lines]
        return LinePage(items=[self._line_view(i) for i in shown])

    async def get_line(self, call: Call) -> LineView:
        return self._line_view(await self.ctx.access.line(call.account, call.path("line_id")))

    async def update_line(self, call: Call) -> LineView:
        line_id = await self.ctx.access.line(call.account, call.path("line_id"))
        changes = call.body_as(LineSettingsPatch).model_dump(mode="json", exclude_unset=True)
        try:
            await self.ctx.host.line_changes.change(line_id, changes, by=call.account.id)
        except ValidationError as exc:
            raise invalid(exc, "body") from None
        return self._line_view(line_id)
