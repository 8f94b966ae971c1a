"""Telegram webhook updates through the Telegram plugin and the whole pipeline, beside aiogram's
own webhook handler with an empty message handler, measured in the same run.

Both servers run in their own process and take the same updates over loopback HTTP from wrk (the
secret header set, a fresh ``update_id`` per request). Behind the plugin: the inbox (SQLite), the
demo bot answering every message, and the outbox sending the answer to a fake Bot API server
(its own process), so every update costs a stored message and a sent reply.

    python bench/telegram_webhook.py [--seconds 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _load import PYTHON, Server, free_port
from webchat_pipeline import wrk

TOKEN = "123456:BENCH-token"
SECRET = "bench-Secret_0123"

AIOGRAM_SERVER = textwrap.dedent(
    f"""
    import gc, sys
    from aiohttp import web
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application

    dispatcher = Dispatcher()

    @dispatcher.message()
    async def empty(message: Message) -> None:
        return None

    async def health(request):
        return web.Response(text="ok")

    session = AiohttpSession(api=TelegramAPIServer.from_base(sys.argv[2]))
    bot = Bot({TOKEN!r}, session=session)
    app = web.Application()
    app.router.add_get("/healthz", health)
    SimpleRequestHandler(dispatcher, bot, secret_token={SECRET!r}).register(app, path="/webhook")
    setup_application(app, dispatcher, bot=bot)
    gc.collect(); gc.freeze()
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
    """
)

FAKE_BOT_API = textwrap.dedent(
    """
    import itertools, sys
    from aiohttp import web
    ids = itertools.count(1)
    BOT = {"id": 123456, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}
    async def method(request):
        name = request.match_info["method"]
        form = await request.post()
        if name == "getMe":
            return web.json_response({"ok": True, "result": BOT})
        if name.startswith("send"):
            chat = int(form["chat_id"])
            message = {"message_id": next(ids), "date": 1, "chat": {"id": chat, "type": "private"},
                       "from": BOT, "text": str(form.get("text", ""))}
            return web.json_response({"ok": True, "result": message})
        return web.json_response({"ok": True, "result": True})
    async def health(request):
        return web.Response(text="ok")
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", method)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
    """
)

CONFIG = """
storage: {{url: "sqlite:///{db}"}}
server: {{host: 127.0.0.1, port: {port}}}
log_level: WARNING
lines:
  - id: bench
    name: Bench
    bot: omniline.demo.bot:bot
    handoff_when_unhandled: false
    channels:
      - type: telegram
        account: main
        settings:
          token: "{token}"
          webhook_secret: "{secret}"
          api_base_url: "{api}"
          per_chat_rate: 1000
          global_rate: 100000
"""

WRK_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  local uid = math.random(1, 1000000000)
  local chat = 1000 + (counter %% 256)
  local body = string.format('{"update_id":%%d,"message":{"message_id":%%d,"date":1,'
    .. '"chat":{"id":%%d,"type":"private"},"from":{"id":%%d,"is_bot":false,"first_name":"Ann"},'
    .. '"text":"hello"}}', uid, counter, chat, chat)
  return wrk.format("POST", "%s", {["Content-Type"]="application/json",
    ["X-Telegram-Bot-Api-Secret-Token"]="%s"}, body)
end
"""


def replies(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox WHERE status='sent'").fetchone()[0])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("install wrk (Debian package) to run this benchmark")
    with tempfile.TemporaryDirectory(prefix="omniline-bench-") as name:
        tmp = Path(name)
        api_port = free_port()
        (tmp / "fake_api.py").write_text(FAKE_BOT_API)
        api = Server(
            [PYTHON, str(tmp / "fake_api.py"), str(api_port)],
            f"http://127.0.0.1:{api_port}",
            tmp / "api.log",
        )
        try:
            await api.wait_ready()
            # aiogram's own webhook handler, empty message handler
            port = free_port()
            (tmp / "aiogram_server.py").write_text(AIOGRAM_SERVER)
            baseline = Server(
                [PYTHON, str(tmp / "aiogram_server.py"), str(port), api.url],
                f"http://127.0.0.1:{port}",
                tmp / "aiogram.log",
            )
            try:
                await baseline.wait_ready()
                script = WRK_SCRIPT % ("/webhook", SECRET)
                aiogram = await wrk(baseline.url, script, tmp, args.seconds, args.connections)
            finally:
                baseline.stop()
            # the plugin with the whole pipeline behind it
            port = free_port()
            db = tmp / "omniline.db"
            config = tmp / "omniline.yaml"
            config.write_text(
                CONFIG.format(db=db, port=port, token=TOKEN, secret=SECRET, api=api.url)
            )
            upgrade = await asyncio.create_subprocess_exec(
                PYTHON,
                "-m",
                "omniline",
                "db",
                "upgrade",
                "-c",
                str(config),
                stdout=asyncio.subprocess.DEVNULL,
            )
            await upgrade.wait()
            server = Server(
                [PYTHON, "-m", "omniline", "run", "-c", str(config)],
                f"http://127.0.0.1:{port}",
                tmp / "omniline.log",
            )
            try:
                await server.wait_ready()
                script = WRK_SCRIPT % ("/channels/telegram/main/webhook", SECRET)
                began = time.perf_counter()
                plugin = await wrk(server.url, script, tmp, args.seconds, args.connections)
                stored = plugin.requests - plugin.errors
                while replies(db) < stored and time.perf_counter() - began < 300:  # noqa: ASYNC110 - polls another process
                    await asyncio.sleep(0.05)
                processed = replies(db) / (time.perf_counter() - began)
            finally:
                server.stop()
        finally:
            api.stop()

    print(f"\nTelegram webhook updates over loopback HTTP, wrk, {args.connections} connections\n")
    print(
        f"{'aiogram webhook handler, empty message handler':52} {aiogram.rate:8.0f} /s   "
        f"p50 {aiogram.p50:6.1f} ms  p99 {aiogram.p99:6.1f} ms  errors {aiogram.errors}"
    )
    print(
        f"{'omniline-telegram, updates stored and acknowledged':52} {plugin.rate:8.0f} /s   "
        f"p50 {plugin.p50:6.1f} ms  p99 {plugin.p99:6.1f} ms  errors {plugin.errors}"
    )
    print(f"{'omniline-telegram, bot replies sent (whole pipeline)':52} {processed:8.0f} /s")
    print(
        f"\nplugin / aiogram: {plugin.rate / aiogram.rate:.2f}x updates/s "
        f"(the plugin also stores each update and sends a reply through the outbox)"
    )


if __name__ == "__main__":
    asyncio.run(main())
