"""awards made directly by staff: a source column, a note, and outings without photo or track

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("activity_claims") as batch:
        batch.add_column(sa.Column("source", sa.String(length=10), nullable=False, server_default="citizen"))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reference", sa.String(length=100), nullable=True))
        batch.create_unique_constraint("uq_activity_claims_reference", ["reference"])
        batch.alter_column("photo_hash", existing_type=sa.String(length=66), nullable=True)
        batch.alter_column("track_hash", existing_type=sa.String(length=66), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("activity_claims") as batch:
        batch.alter_column("track_hash", existing_type=sa.String(length=66), nullable=False)
        batch.alter_column("photo_hash", existing_type=sa.String(length=66), nullable=False)
        batch.drop_constraint("uq_activity_claims_reference", type_="unique")
        batch.drop_column("reference")
        batch.drop_column("note")
        batch.drop_column("source")
