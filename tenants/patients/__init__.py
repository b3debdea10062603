"""Patient profiles: PHI encrypted at rest under per-tenant data keys, FHIR R4 in and out, erasure and
export. Core-side (tenants/), reached by plugins through `ctx.patient(patient_id)`."""
