# Role separation for GMP documents, deviations and CAPA (21 CFR 211.22, EU GMP Chapter 1 and 2, Part 11).
#
# The GMP plugin asks a second decision with the domain facts in `input.resource` (ctx.authorize):
# `operation`, `actor` {id, roles} (the signer acting), `author_id`, and for approvals and effectiveness the
# approval signatures that still verify against the current content (`approvals` [{signer_id, roles}]).
# Route-level decisions carry no `operation`, so none of these rules applies to them.
package lumen.ext.gmp

import rego.v1

# Helpers are functions, not rules: the core reads every `lumen.ext` package whole on each decision, and a
# function costs nothing until a deny rule (only reached with an `operation`) calls it.
roles(r) := {x | some x in r.actor.roles}

has_any(r, wanted) if count(roles(r) & wanted) > 0

is_author(r) if r.actor.id == r.author_id

independent_approvals(r) := {a | some a in r.approvals; a.signer_id != r.author_id}

qa_approvals(r) := {a | some a in independent_approvals(r); "qa" in a.roles}

deny contains "the author of a document cannot approve it" if {
	input.resource.type == "gmp_document"
	input.resource.operation in {"sign_approved", "to_approved", "to_effective"}
	is_author(input.resource)
}

deny contains "approving needs a signer with the approver or qa role" if {
	input.resource.type == "gmp_document"
	input.resource.operation in {"sign_approved", "to_approved"}
	not has_any(input.resource, {"approver", "qa"})
}

deny contains "reviewing needs a signer with the reviewer, approver or qa role" if {
	input.resource.type == "gmp_document"
	input.resource.operation == "sign_reviewed"
	not has_any(input.resource, {"reviewer", "approver", "qa"})
}

deny contains "signing as author needs the document's author or a signer with the author role" if {
	input.resource.type == "gmp_document"
	input.resource.operation in {"sign_authored", "to_in_review", "edit", "revise"}
	not is_author(input.resource)
	not "author" in roles(input.resource)
}

deny contains "approval needs an approval signature, by someone other than the author, on this exact content" if {
	input.resource.type == "gmp_document"
	input.resource.operation == "to_approved"
	count(independent_approvals(input.resource)) == 0
}

deny contains "only QA makes a document effective or retires it" if {
	input.resource.type == "gmp_document"
	input.resource.operation in {"to_effective", "to_retired"}
	not "qa" in roles(input.resource)
}

deny contains "QA approval is required before a document becomes effective" if {
	input.resource.type == "gmp_document"
	input.resource.operation == "to_effective"
	count(qa_approvals(input.resource)) == 0
}

deny contains "returning a document to draft needs its author or a reviewer, approver or qa" if {
	input.resource.type == "gmp_document"
	input.resource.operation == "to_draft"
	not is_author(input.resource)
	not has_any(input.resource, {"reviewer", "approver", "qa"})
}

deny contains "only QA decides a deviation's extension request" if {
	input.resource.type == "gmp_deviation"
	input.resource.operation == "decide_extension"
	not "qa" in roles(input.resource)
}

deny contains "an extension cannot be decided by the person who requested it" if {
	input.resource.type == "gmp_deviation"
	input.resource.operation == "decide_extension"
	input.resource.actor.id == input.resource.requester_id
}

deny contains "only QA closes a deviation" if {
	input.resource.type == "gmp_deviation"
	input.resource.operation == "close"
	not "qa" in roles(input.resource)
}

deny contains "only QA verifies a CAPA's effectiveness" if {
	input.resource.type == "gmp_capa"
	input.resource.operation == "verify_effectiveness"
	not "qa" in roles(input.resource)
}
