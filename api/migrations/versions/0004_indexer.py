"""the event indexer: indexed block hashes and chain events

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "indexed_blocks",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_table(
        "chain_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("citizen", sa.String(length=42), nullable=True),
        sa.Column("activity_id", sa.String(length=78), nullable=True),
        sa.Column("event_id", sa.String(length=78), nullable=True),
        sa.Column("points_delta", sa.BigInteger(), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tx_hash", "log_index"),
    )
    for column in ("block_number", "name", "citizen", "activity_id", "event_id"):
        op.create_index(f"ix_chain_events_{column}", "chain_events", [column])


def downgrade() -> None:
    op.drop_table("chain_events")
    op.drop_table("indexed_blocks")
