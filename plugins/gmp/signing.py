"""21 CFR Part 11 electronic signatures.

- §11.100(a), §11.300(a): a signer is one person with a user id unique in the tenant and a password of
  their own (argon2id hash), never the API key that calls Lumen.
- §11.200(a)(1): the first signing of a session takes both components (user id + password) and opens a
  signing session (a random token, kept as its SHA-256, valid `signing_session_minutes` from the last
  signing); later signings in the session take the session token and the password. An expired session
  needs both components again.
- §11.300(d): every failed attempt is audited in a transaction of its own (it stands although the request
  is refused); `max_failed_signatures` failures in a row lock the signer and emit `gmp.signer.locked`.
- §11.50, §11.70: a signature records the printed name, UTC time and meaning, and the SHA-256 of the exact
  content signed; it verifies only while the document still has that content (see service.signature_valid).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lumen.plugins.gmp.models import GmpSignature, GmpSigner
from lumen.plugins.gmp.repository import SignatureRepository, SignerRepository
from lumen.plugins.gmp.schemas import (
    SignatureCreated,
    SignatureIn,
    SignerIn,
    SignerOut,
    SignerPatch,
)
from lumen.plugins.gmp.service import (
    RESOURCE,
    DocumentService,
    bad_input,
    settings_of,
    signature_out,
    signature_record_hash,
    version_label,
)
from lumen.plugins.sdk import Conflict, Forbidden, NotFound, PluginContext

__all__ = ["SignatureService", "SignerService"]

log = structlog.get_logger()

# argon2id at OWASP's recommended minimum (19 MiB, 2 passes): about 20 ms a check here.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
# A fixed hash, so an unknown user id costs the same time as a wrong password.
_DUMMY = _HASHER.hash(secrets.token_hex(16))

# Which document statuses each meaning may be signed in.
SIGNABLE = {
    "authored": frozenset({"draft", "in_review"}),
    "reviewed": frozenset({"in_review"}),
    "approved": frozenset({"in_review", "approved"}),
}


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


async def password_matches(stored: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def signer_out(s: GmpSigner) -> SignerOut:
    return SignerOut(
        id=s.id,
        user_id=s.user_id,
        full_name=s.full_name,
        title=s.title,
        roles=list(s.roles),
        active=s.active,
        locked=s.locked_at is not None,
        failed_attempts=s.failed_attempts,
        created_at=s.created_at,
    )


class SignerService:
    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.signers = ctx.repository(SignerRepository)

    async def get(self, signer_id: uuid.UUID) -> GmpSigner:
        signer = await self.signers.get(signer_id)
        if signer is None:
            raise NotFound("No signer with this id.")
        return signer

    async def create(self, body: SignerIn) -> SignerOut:
        if await self.signers.by_user_id(body.user_id) is not None:
            raise Conflict(
                "user_id: a signer with this user id exists; user ids are never reused (§11.100(a))."
            )
        if body.password.strip() == "" or body.user_id.lower() in body.password.lower():
            raise bad_input(
                "password", "choose a password that is not blank and does not contain the user id"
            )
        signer = GmpSigner(
            id=uuid.uuid4(),
            user_id=body.user_id,
            full_name=body.full_name,
            title=body.title,
            roles=sorted(set(body.roles)),
            password_hash=await asyncio.to_thread(hash_password, body.password),
            active=True,
            failed_attempts=0,
        )
        await self.signers.add(signer)
        self.ctx.audit(
            "gmp.signer.created",
            resource_type="gmp_signer",
            resource_id=str(signer.id),
            changed_fields=["user_id", "full_name", "roles", "password"],
            details={"roles": signer.roles},
        )
        return signer_out(signer)

    async def update(self, signer_id: uuid.UUID, body: SignerPatch) -> SignerOut:
        signer = await self.get(signer_id)
        changed = []
        if body.roles is not None:
            signer.roles = sorted(set(body.roles))
            changed.append("roles")
        if body.active is not None:
            signer.active = body.active
            changed.append("active")
        if body.password is not None:
            signer.password_hash = await asyncio.to_thread(hash_password, body.password)
            signer.session_token_sha256 = signer.session_expires_at = None
            changed.append("password")
        if body.unlock:
            signer.locked_at, signer.failed_attempts = None, 0
            changed.append("locked")
        if not changed:
            raise bad_input("roles", "nothing to change")
        self.ctx.audit(
            "gmp.signer.updated",
            resource_type="gmp_signer",
            resource_id=str(signer.id),
            changed_fields=changed,
        )
        return signer_out(signer)


class SignatureService:
    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.documents = DocumentService(ctx)
        self.signers = ctx.repository(SignerRepository)

    async def sign(self, document_id: uuid.UUID, body: SignatureIn, now: datetime) -> SignatureCreated:
        settings = settings_of(self.ctx)
        doc = await self.documents.document(document_id, for_update=True)
        signer = await self.signers.get(body.signer_id)
        if signer is None:
            raise bad_input("signer_id", "no signer with this id in this tenant")
        if not signer.active:
            raise Forbidden("This signer is deactivated.")
        if signer.locked_at is not None:
            raise Forbidden(
                "This signer is locked after repeated failed signing attempts; "
                "an administrator must unlock it."
            )
        authentication = await self._authenticate(
            signer, body, now, settings.max_failed_signatures, document_id
        )
        if doc.status not in SIGNABLE[body.meaning]:
            raise Conflict(f"A {doc.status} document cannot be signed as {body.meaning}.")
        await self.ctx.authorize(
            {
                "type": RESOURCE,
                "operation": f"sign_{body.meaning}",
                "status": doc.status,
                "actor": {"id": str(signer.id), "roles": list(signer.roles)},
                "author_id": str(doc.author_signer_id),
            }
        )
        existing = await self.ctx.repository(SignatureRepository).for_document(doc.id)
        if any(
            s.signer_id == signer.id and s.meaning == body.meaning and s.content_sha256 == doc.content_sha256
            for s in existing
        ):
            raise Conflict(f"This signer has already signed this content as {body.meaning}.")
        # A good signing ends the run of failures and opens (or extends) the signing session.
        signer.failed_attempts = 0
        token = body.signing_session if authentication == "session+password" else secrets.token_urlsafe(32)
        assert token is not None
        signer.session_token_sha256 = _token_hash(token)
        signer.session_expires_at = now + timedelta(minutes=settings.signing_session_minutes)
        sig = GmpSignature(
            id=uuid.uuid4(),
            document_id=doc.id,
            signer_id=signer.id,
            printed_name=signer.full_name,
            meaning=body.meaning,
            version=version_label(doc),
            content_sha256=doc.content_sha256,
            signed_at=now,
            authentication=authentication,
            record_sha256="",
        )
        sig.tenant_id = self.ctx.tenant_id
        sig.record_sha256 = signature_record_hash(sig)
        await self.ctx.repository(SignatureRepository).add(sig)
        self.ctx.audit(
            "gmp.document.signed",
            resource_type=RESOURCE,
            resource_id=str(doc.id),
            details={
                "signer_id": str(signer.id),
                "meaning": body.meaning,
                "version": sig.version,
                "content_sha256": sig.content_sha256,
                "authentication": authentication,
                "signature_id": str(sig.id),
            },
        )
        return SignatureCreated(
            signature=signature_out(sig, doc),
            signing_session=token,
            signing_session_expires_at=signer.session_expires_at,
        )

    async def _authenticate(
        self, signer: GmpSigner, body: SignatureIn, now: datetime, limit: int, document_id: uuid.UUID
    ) -> str:
        """Both components, or the session token and the password (§11.200(a)(1)); a failure is counted
        and audited for good before the request is refused."""
        if body.signing_session is not None:
            session_ok = (
                signer.session_token_sha256 is not None
                and signer.session_expires_at is not None
                and signer.session_expires_at > now
                and hmac.compare_digest(signer.session_token_sha256, _token_hash(body.signing_session))
            )
            if not session_ok and body.user_id is None:
                await password_matches(_DUMMY, body.password)  # the same cost as a real check
                await self._fail(signer, "session_expired_or_unknown", limit, document_id, now)
                raise Forbidden(
                    "The signing session is unknown or has expired: sign with both components "
                    "(user_id and password).",
                    extra={"errors": [{"key": "signing_session", "message": "expired or unknown"}]},
                )
            if session_ok:
                if await password_matches(signer.password_hash, body.password):
                    return "session+password"
                await self._fail(signer, "wrong_password", limit, document_id, now)
                raise self._rejected()
        if body.user_id is None:
            raise bad_input("user_id", "the first signing of a session needs the user id and the password")
        user_ok = hmac.compare_digest(body.user_id.encode(), signer.user_id.encode())
        password_ok = await password_matches(signer.password_hash if user_ok else _DUMMY, body.password)
        if user_ok and password_ok:
            return "user_id+password"
        await self._fail(signer, "wrong_user_id_or_password", limit, document_id, now)
        raise self._rejected()

    def _rejected(self) -> Forbidden:
        return Forbidden(
            "Signature rejected: the user id or password is wrong. The attempt is recorded.",
            extra={"errors": [{"key": "password", "message": "user id or password is wrong"}]},
        )

    async def _fail(
        self, signer: GmpSigner, reason: str, limit: int, document_id: uuid.UUID, now: datetime
    ) -> None:
        async with self.ctx.separate_transaction() as tx:
            failures, locked = await tx.repository(SignerRepository).record_failure(signer.id, limit, now)
            details = {"signer_id": str(signer.id), "reason_code": reason, "failures": failures}
            await tx.audit(
                "gmp.signature.rejected",
                resource_type=RESOURCE,
                resource_id=str(document_id),
                details=details,
                actor_key_id=self.ctx.principal.key_id,
            )
            if locked:
                await tx.audit(
                    "gmp.signer.locked",
                    resource_type="gmp_signer",
                    resource_id=str(signer.id),
                    details={"failures": failures},
                    actor_key_id=self.ctx.principal.key_id,
                )
                await tx.emit(
                    "gmp.signer.locked",
                    {"signer_id": str(signer.id), "failures": failures, "locked_at": now.isoformat()},
                )
        log.warning("gmp.signature_rejected", reason=reason, locked=locked)
