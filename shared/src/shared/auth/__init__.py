"""API keys with tenants: stored hashed, never logged, cached briefly so revocation lands fast."""

from shared.auth.dependencies import Principal, require_admin, require_principal
from shared.auth.repository import ApiKeyRepository
from shared.auth.service import ApiKeys

__all__ = ["ApiKeyRepository", "ApiKeys", "Principal", "require_admin", "require_principal"]
