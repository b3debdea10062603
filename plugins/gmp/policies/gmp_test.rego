package lumen.gmp_test

import rego.v1

base := {
	"principal": {"kind": "tenant", "tenant_id": "t1", "key_id": "k1", "scopes": ["admin"], "mode": "live"},
	"tenant": {"id": "t1", "enabled_plugins": ["gmp"], "policy_data": {}},
}

doc(operation, actor, approvals) := object.union(base, {
	"action": "gmp.transition",
	"resource": {
		"type": "gmp_document", "operation": operation, "actor": actor,
		"author_id": "alice", "approvals": approvals,
	},
})

qa := {"id": "quinn", "roles": ["qa"]}

test_author_cannot_approve if {
	d := data.lumen.authz.decision with input as doc("to_approved", {"id": "alice", "roles": ["approver"]}, [])
	not d.allow
	"the author of a document cannot approve it" in d.reasons
}

test_effective_needs_qa_approval if {
	d := data.lumen.authz.decision with input as doc("to_effective", qa, [{"signer_id": "bob", "roles": ["approver"]}])
	not d.allow
}

test_effective_with_qa_approval if {
	d := data.lumen.authz.decision with input as doc("to_effective", qa, [{"signer_id": "quinn", "roles": ["qa"]}])
	d.allow
}

test_route_level_decision_unaffected if {
	d := data.lumen.authz.decision with input as object.union(base, {"action": "gmp.transition", "resource": {"type": "gmp_document", "id": "x"}})
	d.allow
}
