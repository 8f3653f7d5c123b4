"""API keys with tenants: stored hashed, never logged, cached briefly so revocation lands fast."""

from shared.auth.dependencies import Principal, require_admin, require_principal
from shared.auth.repository import ApiKeyRepository
from shared.auth.service import Authenticator

__all__ = ["ApiKeyRepository", "Authenticator", "Principal", "require_admin", "require_principal"]
