"""vk-api, pointed at a configurable API root and kept off the event loop.

vk-api is synchronous (requests). Every call here goes through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import requests  # type: ignore[import-untyped,unused-ignore]
import vk_api  # type: ignore[import-untyped]
from jconfig.memory import MemoryConfig  # type: ignore[import-untyped]

from omniline_vk.config import VK_API_ROOT

ApiError: type[Exception] = vk_api.exceptions.ApiError
ApiHttpError: type[Exception] = vk_api.exceptions.ApiHttpError


class RebasedSession(requests.Session):  # type: ignore[misc,unused-ignore]
    """A requests session that sends calls for the VK API root to another root."""

    def __init__(self, api_base_url: str, timeout: float) -> None:
        super().__init__()
        self._base = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        self._timeout = timeout

    def request(  # type: ignore[override,unused-ignore]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> Any:
        if url.startswith(VK_API_ROOT):
            url = self._base + url[len(VK_API_ROOT) :]
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


class _GroupApi(vk_api.VkApiGroup):  # type: ignore[misc]
    """vk-api's group client, minus its habit of sleeping and retrying error 6 in place: the outbox
    decides when to try again."""

    def too_many_rps_handler(self, error: Exception) -> None:
        raise error


class VkClient:
    """One community's API client: one HTTP session, calls run in a worker thread."""

    def __init__(self, *, token: str, api_base_url: str, api_version: str, timeout: float) -> None:
        self.session = RebasedSession(api_base_url, timeout)
        self._vk = _GroupApi(
            token=token, api_version=api_version, session=self.session, config=MemoryConfig
        )

    async def call(self, method: str, **values: Any) -> Any:
        return await asyncio.to_thread(self._vk.method, method, values)

    async def get_json(self, url: str, params: dict[str, Any], limit: float) -> dict[str, Any]:
        def fetch() -> dict[str, Any]:
            try:
                response = self.session.get(url, params=params, timeout=limit)
                response.raise_for_status()
            except requests.RequestException as exc:
                # requests prints the URL with its query, and the long poll's key is in it
                raise requests.RequestException(f"{type(exc).__name__} from {url}") from None
            return cast(dict[str, Any], response.json())

        return await asyncio.to_thread(fetch)

    async def download(self, url: str) -> bytes:
        def fetch() -> bytes:
            response = self.session.get(url)
            response.raise_for_status()
            return bytes(response.content)

        return await asyncio.to_thread(fetch)

    async def upload(self, url: str, field: str, name: str, content: bytes) -> dict[str, Any]:
        def post() -> dict[str, Any]:
            response = self.session.post(url, files={field: (name, content)})
            response.raise_for_status()
            return cast(dict[str, Any], response.json())

        return await asyncio.to_thread(post)

    def close(self) -> None:
        self.session.close()


def error_code(error: Exception) -> int | None:
    code = getattr(error, "code", None)
    return code if isinstance(code, int) else None


def error_message(error: Exception) -> str:
    detail = getattr(error, "error", None)
    if isinstance(detail, dict):
        return str(detail.get("error_msg", ""))
    return str(error)


def http_status(error: Exception) -> tuple[int, str | None]:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", 0)
    headers = getattr(response, "headers", {}) or {}
    return int(status), headers.get("Retry-After")
