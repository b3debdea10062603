# Lumen's core authorization policy (ARCHITECTURE §2-3): who may do which action, and under which obligations.
#
# input:   {"principal": {"kind": "platform" | "tenant", "tenant_id", "key_id", "scopes", "role", "mode"},
#           "action": "keys.create", "resource": {...},
#           "tenant": {"id", "plan", "enabled_plugins", "settings", "policy_data"}}
# data:    data.lumen.actions[<action>] = {"platform", "operator", "scopes", "plugin", "phi", "access", "category",
#           "obligations"} (the action table: the kernel's plus the plugins')
# output:  decision := {"allow": bool, "reasons": [string], "obligations": [string]}
#
# Default deny: an action is allowed only when a grant matches and no deny applies, and every deny says why.
# Plugins extend this policy from their own package `lumen.ext.<plugin>` with `deny` (reasons) and
# `obligations` sets: they can take access away or attach obligations, never grant it. Those packages must
# not refer back to data.lumen.authz (that would be a cycle).
package lumen.authz

import rego.v1

# --- the request, normalised (OPA callers may send partial documents) --------------------------------------

default tenant := {}

tenant := input.tenant if is_object(input.tenant)

default policy_data := {}

policy_data := tenant.policy_data if is_object(tenant.policy_data)

is_platform if input.principal.kind == "platform"

is_tenant if input.principal.kind == "tenant"

# --- the action --------------------------------------------------------------------------------------------

known if data.lumen.actions[input.action]

spec := data.lumen.actions[input.action]

platform_action if spec.platform == true

# Actions the operator may also take on its own records (e.g. reading the platform's audit chain).
operator_action if spec.operator == true

plugin_action if is_string(spec.plugin)

tenant_matches if {
	is_string(input.principal.tenant_id)
	input.principal.tenant_id == tenant.id
}

# Scopes that grant the action: admin always, the action table's, and the tenant's own scope grants.
granting_scopes contains "admin"

granting_scopes contains scope if some scope in spec.scopes

granting_scopes contains scope if some scope in policy_data.scope_grants[input.action]

has_scope if {
	some scope in input.principal.scopes
	scope in granting_scopes
}

denied_by_tenant if input.action in policy_data.deny_actions

# --- grants: why an action would be allowed ----------------------------------------------------------------

grants contains sprintf("the platform operator may %v", [input.action]) if {
	is_platform
	platform_action
}

grants contains sprintf("the platform operator may %v on its own records", [input.action]) if {
	is_platform
	operator_action
}

grants contains sprintf("scope %v grants %v", [scope, input.action]) if {
	is_tenant
	known
	not platform_action
	tenant_matches
	some scope in input.principal.scopes
	scope in granting_scopes
}

# --- denies: one reason per failed condition ---------------------------------------------------------------

deny contains sprintf("unknown action %v", [input.action]) if not known

deny contains sprintf("unknown principal kind %v", [object.get(input, ["principal", "kind"], null)]) if {
	not is_platform
	not is_tenant
}

deny contains sprintf("action %v is not a platform action", [input.action]) if {
	is_platform
	known
	not platform_action
	not operator_action
}

deny contains sprintf("action %v is reserved for the platform operator", [input.action]) if {
	is_tenant
	platform_action
}

deny contains "the key's tenant is not the request's tenant" if {
	is_tenant
	not tenant_matches
}

deny contains msg if {
	is_tenant
	known
	not platform_action
	not has_scope
	msg := sprintf("the key lacks a scope for %v (needs one of: %v)", [
		input.action,
		concat(", ", sort(granting_scopes)),
	])
}

deny contains sprintf("plugin %v is not enabled for this tenant", [spec.plugin]) if {
	is_tenant
	plugin_action
	not spec.plugin in tenant.enabled_plugins
}

deny contains sprintf("action %v is denied by the tenant's policy", [input.action]) if {
	is_tenant
	denied_by_tenant
}

# (indexing, not `some ... in`, because regorus' compiler cannot hoist `some` over a virtual document yet)
deny contains msg if {
	msg := data.lumen.ext[_].deny[_]
}

# --- the decision ------------------------------------------------------------------------------------------

# Three exclusive definitions, so a decision evaluates `grants` and `deny` once and builds one object
# (measured: cheaper than separate `allow`/`reasons` rules gated on `allow` and `not allow`).
decision := {"allow": true, "reasons": sort(grants), "obligations": sort(obligations)} if {
	count(deny) == 0
	count(grants) > 0
}

decision := {"allow": false, "reasons": sort(deny), "obligations": []} if count(deny) > 0

# Every deny is explained; this fallback only shows if a future rule forgets to give a reason.
decision := {"allow": false, "reasons": [sprintf("no rule allows %v", [input.action])], "obligations": []} if {
	count(deny) == 0
	count(grants) == 0
}

allow := decision.allow

# Obligations bind the caller when the action is allowed (the decision carries none on a deny).
obligations contains name if some name in spec.obligations

obligations contains "audit_phi_read" if {
	spec.phi == true
	spec.access == "read"
}

# PHI never leaves in a webhook unless the tenant has opted in (ARCHITECTURE §6.4).
obligations contains "redact_phi" if {
	spec.category == "webhooks"
	not policy_data.include_phi_in_webhooks == true
}

obligations contains name if some name in policy_data.obligations[input.action]

obligations contains name if {
	name := data.lumen.ext[_].obligations[_]
}
