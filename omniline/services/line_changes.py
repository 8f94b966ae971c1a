"""Line settings changed at run time: kept in the database, laid over the config file's.

A change made through the API (the console's line settings) is written as the changed keys of the
line (``line_settings``), validated as a whole with the line's other settings, and numbered
(``version``). Every worker process applies it: the one that made it at once, the others when
they next look (every ``interval`` seconds), and every process again at start, so a change
outlives a restart. The config file's values stay the base: ``reset`` drops a line's changes and
the line runs on its config again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from omniline.engine.ports import Clock
from omniline.engine.settings import LineSettings
from omniline.pipeline.line import Line
from omniline.store.line_settings import LineSettingsRepository

log = logging.getLogger("omniline.lines")


def settings_with(base: LineSettings, changes: Mapping[str, Any]) -> LineSettings:
    """``base`` with ``changes`` laid over it, validated as a whole."""
    return LineSettings.model_validate({**base.model_dump(), **changes})


class LineChanges:
    """Run-time changes of the lines' settings, shared through the database."""

    def __init__(
        self,
        stored: LineSettingsRepository,
        lines: Mapping[str, Line],
        clock: Clock,
        *,
        interval: float = 2.0,
    ) -> None:
        self._stored = stored
        self._lines = lines
        self._clock = clock
        self.interval = interval
        """Seconds between looks for changes made by other processes."""
        self._base = {line_id: line.settings for line_id, line in lines.items()}
        self._applied: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def load(self, *, at_start: bool = True) -> None:
        """Apply every stored change (at start, before any message is handled)."""
        for stored in await self._stored.all():
            self._apply(stored.line_id, stored.version, stored.changes, at_start=at_start)

    async def change(
        self, line_id: str, changes: Mapping[str, Any], *, by: str | None = None
    ) -> LineSettings:
        """Lay ``changes`` (JSON values) over the line's settings, for every process and across
        restarts. Raises ``pydantic.ValidationError`` if the result is not valid; nothing is kept
        then."""
        if "queue" in changes:
            raise ValueError(
                "change a line's queue with Omniline.set_queue (it is in the database)"
            )
        base = self._base[line_id]
        # As JSON, whatever form they came in (a model, a time...): validated once here.
        now_valid = settings_with(self._lines[line_id].settings, changes).model_dump(mode="json")
        changes = {name: now_valid[name] for name in changes}
        # Checked again against what other processes stored meanwhile, before anything is written.
        check = partial(settings_with, base)
        stored = await self._stored.merge(
            line_id, changes, check=check, by=by, now=self._clock.now()
        )
        self._apply(line_id, stored.version, stored.changes)
        return self._lines[line_id].settings

    async def reset(self, line_id: str) -> dict[str, Any]:
        """Drop the line's run-time changes: it runs on the config file's settings again (every
        process within ``interval``). Returns the changes dropped."""
        stored = await self._stored.reset(line_id, self._clock.now())
        if stored is None:
            return {}
        self._apply(line_id, stored.version, {})
        return stored.changes

    async def refresh(self) -> None:
        """Apply what other processes changed (or reset) since the last look."""
        stored = await self._stored.versions()
        for line_id in list(self._applied):
            if line_id not in stored and line_id in self._lines:
                log.info("line %s: settings changed at run time were reset", line_id)
                self._restore(line_id)
        if any(v > self._applied.get(i, -1) for i, v in stored.items() if i in self._lines):
            await self.load(at_start=False)

    def _apply(
        self, line_id: str, version: int, changes: dict[str, Any], *, at_start: bool = False
    ) -> None:
        line = self._lines.get(line_id)
        if line is None or self._applied.get(line_id, -1) >= version:
            return  # another process's newer change may have been applied meanwhile
        try:
            # The queue is the database's (set_queue): the line keeps the one it has.
            current = {**changes, "queue": line.settings.queue}
            line.settings = settings_with(self._base[line_id], current)
        except ValueError as exc:  # the config file changed under them: keep the config's
            log.warning(
                "line %s: settings changed at run time no longer fit its config and are not "
                "applied (reset them with `omniline lines reset`): %s",
                line_id,
                exc,
            )
        else:
            if at_start and changes:
                log.info(
                    "line %s: settings changed at run time override the config file for: %s",
                    line_id,
                    ", ".join(sorted(changes)),
                )
        self._applied[line_id] = version

    def _restore(self, line_id: str) -> None:
        line = self._lines[line_id]
        line.settings = self._base[line_id].model_copy(update={"queue": line.settings.queue})
        self._applied.pop(line_id, None)

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="omniline-line-changes")

    async def _watch(self) -> None:
        while True:
            await self._clock.sleep(self.interval)
            try:
                await self.refresh()
            except Exception:
                log.exception("could not read the lines' settings; trying again")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
