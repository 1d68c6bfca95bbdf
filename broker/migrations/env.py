"""Alembic environment: runs on the connection ``broker.migrations.upgrade`` hands over."""

from alembic import context
from sqlalchemy import create_engine

from broker.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
else:
    # `alembic -c broker/migrations/alembic.ini ...` from the command line (writing revisions).
    url = config.get_main_option("sqlalchemy.url")
    with create_engine(url).begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        context.run_migrations()
