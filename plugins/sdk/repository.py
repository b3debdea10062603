"""TenantRepository: the base of every plugin repository. All SQL for a model, always filtered by the
tenant explicitly (row-level security is the second wall)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar, cast

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.db.base import TenantModel
from lumen.core.db.pagination import paginate

__all__ = ["TenantRepository"]

M = TypeVar("M", bound=TenantModel)


class TenantRepository(Generic[M]):
    model: ClassVar[type[Any]]

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def select(self) -> Select[tuple[M]]:
        return select(self.model).where(self.model.tenant_id == self.tenant_id)

    async def get(self, ident: uuid.UUID) -> M | None:
        found = (await self.session.execute(self.select().where(self.model.id == ident))).scalar_one_or_none()
        return cast("M | None", found)

    async def add(self, row: M) -> M:
        row.tenant_id = self.tenant_id
        self.session.add(row)
        await self.session.flush()
        return row

    async def delete(self, row: M) -> None:
        if row.tenant_id != self.tenant_id:
            raise ValueError("row belongs to another tenant")
        await self.session.delete(row)
        await self.session.flush()

    async def page(self, *, cursor: str | None, limit: int) -> tuple[Sequence[M], str | None]:
        return await paginate(self.session, self.select(), self.model, cursor=cursor, limit=limit)
