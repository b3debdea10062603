"""The hook this plugin declares so that other plugins can extend it (registered via register_hookspecs)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from lumen.plugins.sdk.hookspecs import hookspec

__all__ = ["InteractionRuleSpecs"]


class InteractionRuleSpecs:
    @hookspec
    def interaction_rules(self, tenant_id: uuid.UUID) -> Sequence[Mapping[str, Any]]:  # type: ignore[empty-body]
        """Extra pair rules for `tenant_id`'s checks (e.g. a hospital formulary plugin). Each rule is a dict:
        `{"id": "formulary-1", "a": ["drug:warfarin"], "b": ["class:nsaid"], "severity": "major",
        "mechanism": "...", "clinical_effect": "...", "management": "...", "evidence": "guideline",
        "reference": "Formulary policy 12"}`. Selectors are `drug:<id>`, `class:<id>` or property tokens
        (`cyp3a4:inh-strong`, `qt:known`...), joined with `+` when all must hold. Invalid rules are skipped
        and logged (event `interactions.plugin_rule_invalid`), never applied half-checked."""
