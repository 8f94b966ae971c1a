"""The throwaway PostgreSQL server used by omniline's and plugins' tests."""

from __future__ import annotations

import asyncpg

from omniline.testing.postgres import TemporaryPostgres, find_postgres_bin


def test_find_postgres_bin() -> None:
    folder = find_postgres_bin()
    assert (folder / "initdb").exists()
    assert (folder / "pg_ctl").exists()


async def test_server_databases_and_stop() -> None:
    server = TemporaryPostgres()
    server.start()
    try:
        directory = server.directory
        assert directory.is_dir()
        assert server.url == f"postgresql://postgres@127.0.0.1:{server.port}/postgres"

        # Called from inside the running event loop on purpose.
        urls = [server.create_database("first"), server.create_database("second db")]
        assert urls[0].endswith("/first")
        assert urls[1].endswith("/second%20db")

        for url, name in zip(urls, ["first", "second db"], strict=True):
            connection = await asyncpg.connect(url)
            try:
                assert await connection.fetchval("select 1") == 1
                assert await connection.fetchval("select current_database()") == name
            finally:
                await connection.close()
    finally:
        server.stop()

    assert not directory.exists()
    server.stop()  # a second stop is harmless
    assert not directory.exists()


def test_context_manager() -> None:
    with TemporaryPostgres() as server:
        directory = server.directory
        assert directory.is_dir()
    assert not directory.exists()
