# The units plugin's addition to Lumen's authorization policy (package lumen.ext.<plugin>). It can only
# take access away (`deny`) or attach `obligations`; the core policy decides who may convert at all.
#
# A conversion made with a test-mode key (lm_test_...) is integration traffic: the answer must say it is
# not for clinical use. (A tenant can ask the same of every conversion through its own policy data:
# {"obligations": {"units.convert": ["units_not_for_clinical_use"]}}.)
package lumen.ext.units

import rego.v1

obligations contains "units_not_for_clinical_use" if {
	input.action == "units.convert"
	input.principal.mode == "test"
}
