"""Alembic environment: omniline passes an open connection in ``config.attributes``."""

from alembic import context

from omniline.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run omniline's migrations with `omniline db upgrade -c CONFIG`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
