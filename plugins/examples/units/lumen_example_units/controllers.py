"""GET /v1/units/analytes and GET /v1/units/convert. Lumen has already authenticated the key, decided the
action by policy and checked that the tenant enabled the plugin before a handler here runs."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from lumen.plugins.sdk import LumenProblem, PluginContext
from lumen_example_units.schemas import AnalyteOut, AnalytePage, ConversionOut, UnitsSettings
from lumen_example_units.service import InvalidParameter, conversion_table

__all__ = ["NOT_FOR_CLINICAL_USE", "UnitsController"]

# The obligation units.rego attaches to conversions made with a test-mode key (a tenant's policy data can
# attach it to every conversion too); the answer then says so.
NOT_FOR_CLINICAL_USE = "units_not_for_clinical_use"
_NOTICE = "Made with a test-mode key or under a policy that forbids clinical use: do not use it for care."

# Lumen provides `ctx` to every route of a plugin; declaring it a named dependency says so to Litestar.
Context = NamedDependency[PluginContext]
Analyte = Annotated[str, QueryParameter(min_length=1, max_length=64, description="e.g. glucose")]
Value = Annotated[float, QueryParameter(description="The measured value, finite and >= 0")]
FromUnit = Annotated[
    str, QueryParameter(name="from", min_length=1, max_length=32, description="Its unit, e.g. mg/dL")
]
ToUnit = Annotated[
    str | None,
    QueryParameter(min_length=1, max_length=32, description="Target unit; default: the tenant's system"),
]


def _settings(ctx: PluginContext) -> UnitsSettings:
    settings = ctx.settings
    return settings if isinstance(settings, UnitsSettings) else UnitsSettings()


def _bad(error: InvalidParameter) -> LumenProblem:
    return LumenProblem(
        str(error),
        slug="validation-error",
        extra={"errors": [{"key": error.parameter, "message": error.message, "source": "query"}]},
    )


class UnitsController(Controller):
    path = "/v1/units"
    tags = ["units"]

    @get(
        "/analytes",
        operation_id="listUnitAnalytes",
        summary="Analytes this plugin converts, with their units and sources",
        opt={"action": "units.read"},
    )
    async def analytes(self, ctx: Context) -> AnalytePage:
        table = conversion_table()
        system = _settings(ctx).default_system
        return AnalytePage(
            items=[
                AnalyteOut(
                    analyte=key,
                    name=entry.name,
                    si=entry.si,
                    conventional=entry.conventional,
                    units=[entry.conventional, entry.si],
                    default_unit=entry.si if system == "SI" else entry.conventional,
                    source=entry.source,
                    reviewed=entry.reviewed,
                )
                for key, entry in table.analytes().items()
            ],
            knowledge_version=table.version,
        )

    @get(
        "/convert",
        operation_id="convertUnits",
        summary="Convert a laboratory value between conventional and SI units",
        opt={"action": "units.convert"},
    )
    async def convert(
        self,
        ctx: Context,
        analyte: Analyte,
        value: Value,
        from_: FromUnit,
        to: ToUnit = None,
    ) -> ConversionOut:
        settings = _settings(ctx)
        table = conversion_table()
        try:
            done = table.convert(
                analyte, value, from_, to, default_system=settings.default_system, decimals=settings.decimals
            )
        except InvalidParameter as exc:
            raise _bad(exc) from None
        return ConversionOut(
            analyte=done.analyte,
            value=done.value,
            from_=done.from_unit,
            to=done.to_unit,
            result=done.result,
            factor=done.factor,
            offset=done.offset,
            source=done.entry.source,
            reviewed=done.entry.reviewed,
            knowledge_version=table.version,
            notice=_NOTICE if NOT_FOR_CLINICAL_USE in ctx.obligations else None,
        )
