"""The Alembic migrations and the models describe the same schema (no drift either way)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from api.store import Base, Store


def test_migrations_create_exactly_the_models_schema(database_url: str) -> None:
    store = Store(database_url)
    store.migrate()
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        drift = compare_metadata(context, Base.metadata)
    store.dispose()
    assert drift == [], f"the migrations and the models differ: {drift}"


def test_migrating_twice_changes_nothing(database_url: str) -> None:
    store = Store(database_url)
    store.migrate()
    store.migrate()
    with store.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == "0001"
    store.dispose()
