"""A copy of a SQLite database taken while omniline runs, through SQLite's online backup API.

The backup API reads the database as one consistent snapshot, as any reader would, so writers go
on meanwhile (WAL) and the copy holds every transaction committed before it started and none
half. PostgreSQL has ``pg_dump`` for this, and omniline does not try to be it."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from omniline.errors import StoreError
from omniline.store.database import _sqlite_file, parse_url


class Backup(NamedTuple):
    path: Path
    """Where the copy is."""
    revision: str | None
    """The schema revision of the copy (the omniline that can run on it)."""


def default_backup_name(database: Path, at: datetime) -> str:
    """``omniline.db`` backed up at 20:15:07 UTC: ``omniline-20261203T201507Z.db``."""
    return f"{database.stem}-{at.astimezone(UTC):%Y%m%dT%H%M%SZ}{database.suffix or '.db'}"


def _target(database: Path, to: Path | None, at: datetime) -> Path:
    if to is None:
        return database.with_name(default_backup_name(database, at))
    if to.is_dir():
        return to / default_backup_name(database, at)
    return to


def backup_sqlite(url: str, to: Path | None = None, *, at: datetime | None = None) -> Backup:
    """Copy the SQLite database ``url`` names to ``to`` (a file, or a folder to put it in; by
    default next to the database, named after it and the time).

    The copy is written under a temporary name and renamed when it is whole and checked, so a
    file under the backup's name is always a complete database. An existing file is never
    overwritten."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise StoreError(
            "omniline db backup copies SQLite databases; back up PostgreSQL with its own tool, "
            "pg_dump, which takes a consistent snapshot while omniline runs: "
            "pg_dump --format=custom --file=omniline.dump 'postgresql://USER@HOST:5432/DATABASE' "
            "(restore with pg_restore --clean --if-exists --dbname=... omniline.dump)"
        )
    database = _sqlite_file(parsed, create=False)
    target = _target(database, to, at or datetime.now(UTC))
    if target.exists():
        raise StoreError(f"{target} is there already: give another name with --to")
    if target.resolve() == database.resolve():
        raise StoreError(f"{target} is the database itself: give another name with --to")
    if not target.parent.is_dir():
        raise StoreError(f"cannot write {target}: there is no folder {target.parent}")
    partial = target.with_name(f".{target.name}.partial")
    try:
        revision = _copy(database, partial)
        os.replace(partial, target)
    except sqlite3.DatabaseError as exc:
        reason = str(exc)
        if "file is not a database" in reason:
            raise StoreError(
                f"{database} is not a SQLite database: point storage.url at an omniline database"
            ) from None
        raise StoreError(f"cannot back up {database}: {reason}") from None
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return Backup(target, revision)


def _copy(database: Path, to: Path) -> str | None:
    """Copy, check the copy, and return its schema revision."""
    # mode=rw: never create the database (it is checked to exist, but may go meanwhile)
    source = sqlite3.connect(f"{database.resolve().as_uri()}?mode=rw", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(to)
        try:
            # One step (pages=-1): a snapshot in one read transaction. In steps, every write
            # by omniline between two steps would start the copy over.
            source.backup(copy)
            # DELETE: one self-contained file, whatever journal mode the database was in
            copy.execute("PRAGMA journal_mode=DELETE")
            [(verdict,)] = copy.execute("PRAGMA quick_check").fetchall()
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"the copy does not pass SQLite's check: {verdict}")
            try:
                rows = copy.execute("SELECT version_num FROM alembic_version").fetchall()
            except sqlite3.OperationalError:  # no such table: not migrated by omniline
                return None
            return str(rows[0][0]) if rows else None
        finally:
            copy.close()
    finally:
        source.close()
