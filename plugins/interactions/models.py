"""A tenant's own interaction rules (a hospital's formulary or local-policy rules), applied to its checks
only. Row-level security and the repository's explicit tenant filter keep them inside the tenant."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from lumen.plugins.sdk import TenantModel

__all__ = ["TenantInteractionRule"]


class TenantInteractionRule(TenantModel):
    __tablename__ = "interaction_rules"

    severity: Mapped[str] = mapped_column(String(20))
    # The validated RuleIn as JSON: selectors on each side, texts, evidence and reference.
    rule: Mapped[dict[str, Any]] = mapped_column(JSONB)
