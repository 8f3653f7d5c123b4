"""OAuth2 client credentials: tokens for the configured clients, scopes, expiry."""

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from inter_simulator.problems import InterError, violation

SCOPES = ("boleto-cobranca.read", "boleto-cobranca.write")


@dataclass(frozen=True)
class Token:
    client_id: str
    scopes: frozenset[str]
    expires_at: float


class TokenIssuer:
    def __init__(self, clients: dict[str, str], ttl: Callable[[], float]) -> None:
        self.clients = clients
        self.ttl = ttl
        self.tokens: dict[str, Token] = {}
        self.issued = 0

    def issue(
        self, client_id: str, client_secret: str, grant_type: str, scope: str | None
    ) -> tuple[str, Token, float]:
        if grant_type != "client_credentials":
            raise InterError(
                400,
                "grant_type não suportado",
                [violation("deve ser client_credentials", "grant_type", grant_type)],
            )
        expected = self.clients.get(client_id)
        if expected is None or not hmac.compare_digest(expected, client_secret):
            raise InterError(401, "client_id ou client_secret inválidos")
        scopes = frozenset((scope or "").split()) or frozenset(SCOPES)
        if unknown := scopes - set(SCOPES):
            raise InterError(
                400, "Escopo inválido", [violation("escopo desconhecido", "scope", sorted(unknown))]
            )
        self._forget_expired()
        ttl = self.ttl()
        value = secrets.token_urlsafe(24)
        self.tokens[value] = Token(client_id, scopes, time.monotonic() + ttl)
        self.issued += 1
        return value, self.tokens[value], ttl

    def check(self, authorization: str | None, scope: str) -> Token:
        kind, _, value = (authorization or "").partition(" ")
        token = self.tokens.get(value) if kind.lower() == "bearer" else None
        if token is None or token.expires_at <= time.monotonic():
            raise InterError(401, "Token ausente, inválido ou expirado")
        if scope not in token.scopes:
            raise InterError(403, f"O token não tem o escopo {scope}")
        return token

    def expire_all(self) -> None:
        self.tokens.clear()

    def _forget_expired(self) -> None:
        now = time.monotonic()
        self.tokens = {key: token for key, token in self.tokens.items() if token.expires_at > now}
