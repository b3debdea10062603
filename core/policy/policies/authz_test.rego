# Unit tests for authz.rego (`lumen policy test`; `opa test` runs them too, given the bundle's data.json).
# Kernel actions come from the real action table (data.lumen.actions); plugin-shaped actions from `actions`.
package lumen.authz_test

import rego.v1

import data.lumen.authz

tenant_id := "6b0f7c8e-2f41-4a57-9d2b-3f1f0e4f0a01"

other_tenant_id := "0d7d1f52-93a4-4c52-b7a8-2a7b8f9e0c02"

# A tenant key (scopes given) acting within its own tenant; `tenant_extra` is merged into the tenant.
tenant_input(action, scopes, tenant_extra) := {
	"principal": {"kind": "tenant", "tenant_id": tenant_id, "key_id": "k1", "scopes": scopes},
	"action": action,
	"resource": {},
	"tenant": object.union(
		{"id": tenant_id, "plan": "pro", "enabled_plugins": ["interactions"], "policy_data": {}},
		tenant_extra,
	),
}

platform_input(action) := {
	"principal": {"kind": "platform", "tenant_id": null, "key_id": null, "scopes": []},
	"action": action,
	"resource": {},
	"tenant": {"id": tenant_id},
}

actions := {
	"keys.list": {"platform": false, "scopes": ["keys:read"], "access": "read"},
	"interactions.check": {
		"platform": false, "scopes": ["interactions:check"], "plugin": "interactions",
		"phi": true, "access": "read", "obligations": ["safety_envelope"],
	},
	"triage.assess": {"platform": false, "scopes": ["triage:assess"], "plugin": "triage"},
	"webhooks.deliver": {"platform": false, "scopes": ["webhooks:manage"], "category": "webhooks"},
}

# --- platform operator -------------------------------------------------------------------------------------

test_platform_may_do_platform_actions if {
	every action in ["tenants.create", "tenants.list", "tenants.read", "tenants.update", "tenants.delete",
		"tenants.keys.create"] {
		authz.decision.allow with input as platform_input(action)
	}
}

test_platform_may_not_do_tenant_actions if {
	d := authz.decision with input as platform_input("keys.create")
	d.allow == false
	d.reasons == ["action keys.create is not a platform action"]
}

# --- tenant keys and scopes --------------------------------------------------------------------------------

test_admin_may_manage_keys if {
	every action in ["keys.create", "keys.list", "keys.read", "keys.revoke", "keys.rotate"] {
		authz.decision.allow with input as tenant_input(action, ["admin"], {})
	}
}

test_keys_read_scope_reads_keys if {
	d := authz.decision with input as tenant_input("keys.list", ["keys:read"], {})
	d.allow == true
	d.reasons == ["scope keys:read grants keys.list"]
	authz.decision.allow with input as tenant_input("keys.read", ["keys:read"], {})
}

test_keys_read_scope_may_not_write_keys if {
	every action in ["keys.create", "keys.revoke", "keys.rotate"] {
		d := authz.decision with input as tenant_input(action, ["keys:read"], {})
		d.allow == false
		d.reasons == [sprintf("the key lacks a scope for %s (needs one of: admin)", [action])]
	}
}

test_key_without_scopes_is_denied if {
	d := authz.decision with input as tenant_input("keys.list", [], {})
	not d.allow
	d.reasons == ["the key lacks a scope for keys.list (needs one of: admin, keys:read)"]
}

test_tenant_admin_may_not_do_platform_actions if {
	d := authz.decision with input as tenant_input("tenants.create", ["admin"], {})
	not d.allow
	d.reasons == ["action tenants.create is reserved for the platform operator"]
}

test_key_of_another_tenant_is_denied if {
	d := authz.decision with input as tenant_input("keys.list", ["admin"], {"id": other_tenant_id})
	not d.allow
	d.reasons == ["the key's tenant is not the request's tenant"]
}

test_key_without_tenant_is_denied if {
	request := json.patch(tenant_input("keys.list", ["admin"], {}), [
		{"op": "replace", "path": "/principal/tenant_id", "value": null},
		{"op": "replace", "path": "/tenant/id", "value": null},
	])
	not authz.decision.allow with input as request
}

# --- unknown actions, unknown principals, default deny -----------------------------------------------------

test_unknown_action_is_denied_with_its_name if {
	d := authz.decision with input as tenant_input("keys.explode", ["admin"], {})
	not d.allow
	"unknown action keys.explode" in d.reasons
	d2 := authz.decision with input as platform_input("tenants.explode")
	d2.reasons == ["unknown action tenants.explode"]
}

test_unknown_principal_kind_is_denied if {
	d := authz.decision with input as {"principal": {"kind": "robot", "scopes": ["admin"]}, "action": "keys.list"}
	not d.allow
	d.reasons == ["unknown principal kind robot"]
}

test_empty_input_is_denied if {
	d := authz.decision with input as {}
	not d.allow
	count(d.reasons) > 0
	d.obligations == []
}

# --- plugins -----------------------------------------------------------------------------------------------

test_plugin_action_needs_plugin_enabled if {
	authz.decision.allow with input as tenant_input("interactions.check", ["interactions:check"], {})
		with data.lumen.actions as actions
	d := authz.decision with input as tenant_input("triage.assess", ["admin"], {}) with data.lumen.actions as actions
	not d.allow
	d.reasons == ["plugin triage is not enabled for this tenant"]
}

test_plugin_scope_does_not_grant_other_actions if {
	d := authz.decision with input as tenant_input("keys.list", ["interactions:check"], {})
		with data.lumen.actions as actions
	not d.allow
}

# --- per-tenant policy data --------------------------------------------------------------------------------

test_tenant_policy_denies_actions_even_to_admin if {
	request := tenant_input("keys.create", ["admin"], {"policy_data": {"deny_actions": ["keys.create"]}})
	d := authz.decision with input as request
	not d.allow
	d.reasons == ["action keys.create is denied by the tenant's policy"]
	authz.decision.allow with input as json.patch(request, [{"op": "replace", "path": "/action", "value": "keys.list"}])
}

test_tenant_policy_grants_extra_scopes if {
	request := tenant_input("keys.create", ["ops"], {"policy_data": {"scope_grants": {"keys.create": ["ops"]}}})
	d := authz.decision with input as request
	d.allow
	d.reasons == ["scope ops grants keys.create"]
	not authz.decision.allow with input as json.patch(request, [{"op": "replace", "path": "/action", "value": "keys.revoke"}])
}

test_every_failed_condition_is_a_reason if {
	request := tenant_input("triage.assess", ["keys:read"], {
		"id": other_tenant_id,
		"policy_data": {"deny_actions": ["triage.assess"]},
	})
	d := authz.decision with input as request with data.lumen.actions as actions
	count(d.reasons) == 4
}

# --- obligations -------------------------------------------------------------------------------------------

test_phi_read_carries_audit_obligation if {
	d := authz.decision with input as tenant_input("interactions.check", ["interactions:check"], {})
		with data.lumen.actions as actions
	d.allow
	d.obligations == ["audit_phi_read", "safety_envelope"]
}

test_webhooks_redact_phi_unless_the_tenant_opts_in if {
	d := authz.decision with input as tenant_input("webhooks.deliver", ["admin"], {}) with data.lumen.actions as actions
	d.obligations == ["redact_phi"]
	opts_in := tenant_input("webhooks.deliver", ["admin"], {"policy_data": {"include_phi_in_webhooks": true}})
	d2 := authz.decision with input as opts_in with data.lumen.actions as actions
	d2.obligations == []
}

test_tenant_policy_adds_obligations if {
	request := tenant_input("keys.list", ["admin"], {"policy_data": {"obligations": {"keys.list": ["notify_security"]}}})
	d := authz.decision with input as request
	d.obligations == ["notify_security"]
}

test_deny_carries_no_obligations if {
	d := authz.decision with input as tenant_input("interactions.check", ["keys:read"], {})
		with data.lumen.actions as actions
	not d.allow
	d.obligations == []
}

# --- plugin extension packages may restrict, never grant ---------------------------------------------------

test_extension_deny_overrides_a_grant if {
	d := authz.decision with input as tenant_input("keys.list", ["admin"], {})
		with data.lumen.ext as {"maintenance": {"deny": ["keys are read-only during maintenance"]}}
	not d.allow
	d.reasons == ["keys are read-only during maintenance"]
}

test_extension_cannot_grant if {
	d := authz.decision with input as tenant_input("keys.create", [], {})
		with data.lumen.ext as {"generous": {"deny": [], "obligations": ["log"]}}
	not d.allow
	d.obligations == []
}

test_operator_may_read_its_own_audit if {
	d := authz.decision with input as {"principal": {"kind": "platform", "scopes": []}, "action": "audit.read", "tenant": {}}
		with data.lumen.actions as {"audit.read": {"operator": true, "scopes": ["audit:read"]}}
	d.allow
}

test_operator_actions_still_need_a_scope_from_tenants if {
	d := authz.decision with input as tenant_input("audit.read", ["keys:read"], {})
		with data.lumen.actions as {"audit.read": {"operator": true, "scopes": ["audit:read"]}}
	not d.allow
}
