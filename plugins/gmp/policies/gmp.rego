# Role separation for GMP documents, deviations and CAPA (21 CFR 211.22, EU GMP Chapter 1 and 2, Part 11).
#
# The GMP plugin asks a second decision with the domain facts in `input.resource` (ctx.authorize):
# `operation`, `actor` {id, roles} (the signer acting), `author_id`, and for approvals and effectiveness the
# approval signatures that still verify against the current content (`approvals` [{signer_id, roles}]).
# Route-level decisions carry no `operation`, so none of these rules applies to them.
package lumen.ext.gmp

import rego.v1

res := input.resource

roles := {r | some r in res.actor.roles}

has_any(wanted) if count(roles & wanted) > 0

is_author if res.actor.id == res.author_id

independent_approvals contains a if {
	some a in res.approvals
	a.signer_id != res.author_id
}

qa_approvals contains a if {
	some a in independent_approvals
	"qa" in a.roles
}

deny contains "the author of a document cannot approve it" if {
	res.type == "gmp_document"
	res.operation in {"sign_approved", "to_approved", "to_effective"}
	is_author
}

deny contains "approving needs a signer with the approver or qa role" if {
	res.type == "gmp_document"
	res.operation in {"sign_approved", "to_approved"}
	not has_any({"approver", "qa"})
}

deny contains "reviewing needs a signer with the reviewer, approver or qa role" if {
	res.type == "gmp_document"
	res.operation == "sign_reviewed"
	not has_any({"reviewer", "approver", "qa"})
}

deny contains "signing as author needs the document's author or a signer with the author role" if {
	res.type == "gmp_document"
	res.operation in {"sign_authored", "to_in_review", "edit", "revise"}
	not is_author
	not "author" in roles
}

deny contains "approval needs an approval signature, by someone other than the author, on this exact content" if {
	res.type == "gmp_document"
	res.operation == "to_approved"
	count(independent_approvals) == 0
}

deny contains "only QA makes a document effective or retires it" if {
	res.type == "gmp_document"
	res.operation in {"to_effective", "to_retired"}
	not "qa" in roles
}

deny contains "QA approval is required before a document becomes effective" if {
	res.type == "gmp_document"
	res.operation == "to_effective"
	count(qa_approvals) == 0
}

deny contains "returning a document to draft needs its author or a reviewer, approver or qa" if {
	res.type == "gmp_document"
	res.operation == "to_draft"
	not is_author
	not has_any({"reviewer", "approver", "qa"})
}

deny contains "only QA decides a deviation's extension request" if {
	res.type == "gmp_deviation"
	res.operation == "decide_extension"
	not "qa" in roles
}

deny contains "an extension cannot be decided by the person who requested it" if {
	res.type == "gmp_deviation"
	res.operation == "decide_extension"
	res.actor.id == res.requester_id
}

deny contains "only QA closes a deviation" if {
	res.type == "gmp_deviation"
	res.operation == "close"
	not "qa" in roles
}

deny contains "only QA verifies a CAPA's effectiveness" if {
	res.type == "gmp_capa"
	res.operation == "verify_effectiveness"
	not "qa" in roles
}
