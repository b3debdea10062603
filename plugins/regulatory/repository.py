"""All of the regulatory plugin's SQL, always filtered by the tenant (row-level security underneath)."""

from __future__ import annotations

from lumen.plugins.regulatory.models import RegulatoryGapAnalysis
from lumen.plugins.sdk import TenantRepository

__all__ = ["GapAnalysisRepository"]


class GapAnalysisRepository(TenantRepository[RegulatoryGapAnalysis]):
    """Background gap analyses: `get` (tenant-scoped, so another tenant's id is not found), `add`, `page`."""

    model = RegulatoryGapAnalysis
