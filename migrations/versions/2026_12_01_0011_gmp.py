"""GMP documents: tenant templates, controlled documents, signers and Part 11 signatures, deviations with
extension requests, CAPA with actions, numbering counters. Every table is tenant-owned under RLS.

Revision ID: 0011_gmp
Revises: 0010_triage_interviews
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lumen.core.db.rls import enable_tenant_rls

revision: str = "0011_gmp"
down_revision: str | None = "0010_triage_interviews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ['gmp_counters', 'gmp_signers', 'gmp_templates', 'gmp_documents', 'gmp_deviations', 'gmp_signatures', 'gmp_capas', 'gmp_extensions', 'gmp_capa_actions']


def upgrade() -> None:
    op.create_table('gmp_counters',
    sa.Column('series', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gmp_counters_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gmp_counters'))
    )
    op.create_index(op.f('ix_gmp_counters_tenant_id'), 'gmp_counters', ['tenant_id'], unique=False)
    op.create_index('uq_gmp_counters_tenant_id_series', 'gmp_counters', ['tenant_id', 'series'], unique=True)
    op.create_table('gmp_signers',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('roles', postgresql.ARRAY(sa.String(length=32)), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('session_token_sha256', sa.LargeBinary(length=32), nullable=True),
    sa.Column('session_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gmp_signers_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gmp_signers'))
    )
    op.create_index(op.f('ix_gmp_signers_tenant_id'), 'gmp_signers', ['tenant_id'], unique=False)
    op.create_index('uq_gmp_signers_tenant_id_user_id', 'gmp_signers', ['tenant_id', 'user_id'], unique=True)
    op.create_table('gmp_templates',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gmp_templates_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gmp_templates'))
    )
    op.create_index(op.f('ix_gmp_templates_tenant_id'), 'gmp_templates', ['tenant_id'], unique=False)
    op.create_index('uq_gmp_templates_tenant_id_key_version', 'gmp_templates', ['tenant_id', 'key', 'version'], unique=True)
    op.create_table('gmp_documents',
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('series_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('template_key', sa.String(length=64), nullable=False),
    sa.Column('template_version', sa.Integer(), nullable=False),
    sa.Column('template', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version_major', sa.Integer(), nullable=False),
    sa.Column('version_minor', sa.Integer(), nullable=False),
    sa.Column('change_type', sa.String(length=8), nullable=False),
    sa.Column('fields', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('sections', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('author_signer_id', sa.Uuid(), nullable=False),
    sa.Column('previous_id', sa.Uuid(), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('effective_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['author_signer_id'], ['gmp_signers.id'], name=op.f('fk_gmp_documents_author_signer_id_gmp_signers')),
    sa.ForeignKeyConstraint(['previous_id'], ['gmp_documents.id'], name=op.f('fk_gmp_documents_previous_id_gmp_documents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gmp_documents_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gmp_documents'))
    )
    op.create_index(op.f('ix_gmp_documents_tenant_id'), 'gmp_documents', ['tenant_id'], unique=False)
    op.create_index('ix_gmp_documents_tenant_id_number', 'gmp_documents', ['tenant_id', 'number'], unique=False)
    op.create_table('gmp_deviations',
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('classification', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('discovered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('reported_by_signer_id', sa.Uuid(), nullable=False),
    sa.Column('document_id', sa.Uuid(), nullable=True),
    sa.Column('overdue_notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['gmp_documents.id'], name=op.f('fk_gmp_deviations_document_id_gmp_documents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reported_by_signer_id'], ['gmp_signers.id'], name=op.f('fk_gmp_deviations_reported_by_signer_id_gmp_signers')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gmp_deviations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gmp_deviations'))
    )
    op.create_index(op.f('ix_gmp_deviations_tenant_id'), 'gmp_deviations', ['tenant_id'], unique=False)
    op.create_table('gmp_signatures',
    sa.Column('document_id', sa.Uuid(), nullable=False),
    sa.Column('signer_id', sa.Uuid(), nullable=False),
    sa.Column('printed_name', sa.String(length=200), nullable=False),
    sa.Column('meaning', sa.String(length=16), nullable=False),
    sa.Column('version', sa.String(length=16), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('authentication', sa.String(length=32), nullable=False),
    sa.Column('record_sha256', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['gmp_documents.id'], name=op.f('fk_gmp_signatures_document_id_gmp_documents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['signer_id'], ['gmp_signers.id'], name=op.f('fk_gmp_signatures_signer_id_gmp_signers')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gmp_signatures_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gmp_signatures'))
    )
    op.create_index(op.f('ix_gmp_signatures_document_id'), 'gmp_signatures', ['document_id'], unique=False)
    op.create_index(op.f('ix_gmp_signatures_tenant_id'), 'gmp_signatures', ['tenant_id'], unique=False)
    op.create_table('gmp_capas',
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('deviation_id', sa.Uuid(), nullable=True),
    sa.Column('owner_signer_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('effectiveness_criteria', sa.Text(), nullable=False),
    sa.Column('effectiveness_check_due', sa.Date(), nullable=False),
    sa.Column('effectiveness_notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('effectiveness_result', sa.String(length=16), nullable=True),
    sa.Column('effectiveness_summary', sa.Text(), nullable=True),
    sa.Column('verified_by_signer_id', sa.Uuid(), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['deviation_id'], ['gmp_deviations.id'], name=op.f('fk_gmp_capas_deviation_id_gmp_deviations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_signer_id'], ['gmp_signers.id'], name=op.f('fk_gmp_capas_owner_signer_id_gmp_signers')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gmp_capas_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['verified_by_signer_id'], ['gmp_signers.id'], name=op.f('fk_gmp_capas_verified_by_signer_id_gmp_signers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gmp_capas'))
    )
    op.create_index(op.f('ix_gmp_capas_tenant_id'), 'gmp_capas', ['tenant_id'], unique=False)
    op.create_table('gmp_extensions',
    sa.Column('deviation_id', sa.Uuid(), nullable=False),
    sa.Column('requested_by_signer_id', sa.Uuid(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('previous_due_date', sa.Date(), nullable=False),
    sa.Column('requested_due_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by_signer_id', sa.Uuid(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_signer_id'], ['gmp_signers.id'], name=op.f('fk_gmp_extensions_decided_by_signer_id_gmp_signers')),
    sa.ForeignKeyConstraint(['deviation_id'], ['gmp_deviations.id'], name=op.f('fk_gmp_extensions_deviation_id_gmp_deviations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_signer_id'], ['gmp_signers.id'], name=op.f('fk_gmp_extensions_requested_by_signer_id_gmp_signers')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gmp_extensions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gmp_extensions'))
    )
    op.create_index(op.f('ix_gmp_extensions_deviation_id'), 'gmp_extensions', ['deviation_id'], unique=False)
    op.create_index(op.f('ix_gmp_extensions_tenant_id'), 'gmp_extensions', ['tenant_id'], unique=False)
    op.create_table('gmp_capa_actions',
    sa.Column('capa_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('owner_signer_id', sa.Uuid(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_by_signer_id', sa.Uuid(), nullable=True),
    sa.Column('completion_note', sa.Text(), nullable=True),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['capa_id'], ['gmp_capas.id'], name=op.f('fk_gmp_capa_actions_capa_id_gmp_capas'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['completed_by_signer_id'], ['gmp_signers.id'], name=op.f('fk_gmp_capa_actions_completed_by_signer_id_gmp_signers')),
    sa.ForeignKeyConstraint(['owner_signer_id'], ['gmp_signers.id'], name=op.f('fk_gmp_capa_actions_owner_signer_id_gmp_signers')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_gmp_capa_actions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gmp_capa_actions'))
    )
    op.create_index(op.f('ix_gmp_capa_actions_capa_id'), 'gmp_capa_actions', ['capa_id'], unique=False)
    op.create_index(op.f('ix_gmp_capa_actions_tenant_id'), 'gmp_capa_actions', ['tenant_id'], unique=False)
    for table in TABLES:
        for statement in enable_tenant_rls(table):
            op.execute(statement)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
