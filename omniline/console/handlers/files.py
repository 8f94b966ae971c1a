"""Files operators upload to attach to their replies."""

from __future__ import annotations

import mimetypes
import secrets

from aiohttp import BodyPartReader
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel

from omniline.console.endpoints import ApiError, Call
from omniline.console.handlers.common import Context, bad
from omniline.model import AttachmentKind

MAX_FILE = 10 * 1024 * 1024


class FileView(BaseModel):
    kind: AttachmentKind
    url: str
    name: str
    size: int
    mime_type: str


class FileEndpoints:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def upload(self, call: Call) -> FileView:
        request = call.request
        if not request.content_type.startswith("multipart/"):
            raise ApiError(415, "invalid", "send the file as multipart/form-data, field 'file'")
        try:
            reader = await request.multipart()
            part = await reader.next()
            while part is not None and getattr(part, "name", None) != "file":
                part = await reader.next()
            if part is None or not isinstance(part, BodyPartReader):
                raise bad("body.file", "no file field in the form")
            data = bytearray()
            while chunk := await part.read_chunk(64 * 1024):
                data.extend(chunk)
                if len(data) > MAX_FILE:
                    raise ApiError(
                        413, "too_large", f"a file may be {MAX_FILE // 2**20} MB at most"
                    )
        except (HttpProcessingError, ValueError, AssertionError) as exc:
            raise ApiError(400, "invalid", f"the form is malformed: {exc}") from None
        name = (part.filename or "file").replace("/", "_").replace("\\", "_")[:200] or "file"
        mime = part.headers.get("Content-Type") or mimetypes.guess_type(name)[0]
        mime = mime or "application/octet-stream"
        file_id = secrets.token_urlsafe(24)
        host = self.ctx.host
        await self.ctx.queries.save_file(
            file_id,
            account_id=call.account.id,
            name=name,
            mime_type=mime,
            data=bytes(data),
            now=host.clock.now().timestamp(),
        )
        return FileView(
            kind=_kind(mime),
            url=f"{host.base_url()}/files/{file_id}/{name}",
            name=name,
            size=len(data),
            mime_type=mime,
        )


def _kind(mime: str) -> AttachmentKind:
    major = mime.partition("/")[0]
    return {
        "image": AttachmentKind.IMAGE,
        "video": AttachmentKind.VIDEO,
        "audio": AttachmentKind.AUDIO,
    }.get(major, AttachmentKind.DOCUMENT)
