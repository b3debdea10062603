# Unit tests for units.rego, run by lumen.plugins.sdk.testing.rego_test_results (and `opa test` on a bundle).
# The package is outside lumen.ext on purpose: the core policy reads every lumen.ext package, and this one
# reads the core policy back (a cycle).
package lumen.units_test

import rego.v1

import data.lumen.authz
import data.lumen.ext.units

tenant_id := "6b0f7c8e-2f41-4a57-9d2b-3f1f0e4f0a01"

request(action, mode) := {
	"principal": {"kind": "tenant", "tenant_id": tenant_id, "key_id": "k1", "scopes": ["units:read"], "mode": mode},
	"action": action,
	"resource": {},
	"tenant": {"id": tenant_id, "enabled_plugins": ["units"], "policy_data": {}},
}

test_test_mode_conversion_carries_the_obligation if {
	"units_not_for_clinical_use" in units.obligations with input as request("units.convert", "test")
}

test_live_conversion_carries_none if {
	count(units.obligations) == 0 with input as request("units.convert", "live")
}

test_reading_the_catalogue_carries_none if {
	count(units.obligations) == 0 with input as request("units.read", "test")
}

# Through the core decision: still allowed, now with the obligation.
test_the_decision_allows_and_obliges if {
	d := authz.decision with input as request("units.convert", "test")
	d.allow
	d.obligations == ["units_not_for_clinical_use"]
}

# The obligation never turns a denial into an allow: a disabled plugin stays denied.
test_a_disabled_plugin_stays_denied if {
	d := authz.decision with input as json.patch(request("units.convert", "test"), [
		{"op": "replace", "path": "/tenant/enabled_plugins", "value": []},
	])
	not d.allow
	d.obligations == []
}
