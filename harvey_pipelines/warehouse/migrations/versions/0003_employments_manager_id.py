"""employments.manager_id: the manager under each effective-dated contract version.

Vendors that keep the manager in their job history (SAP SuccessFactors' ``EmpJob.managerId``)
date a manager change by its effective date; the timeline took it before from the employee
record's versions only, dated by the day Harvey first saw them. A reference to employees like
``employee_id``. Rows synced before carry it empty until they change or a ``--mode full`` sync
reads them again (README, "Adding a field").

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


# forward-only: no downgrade (README, "Schema migrations")
def upgrade() -> None:
    op.add_column('employments', sa.Column('manager_id', sa.Text(), nullable=True), schema='core')
