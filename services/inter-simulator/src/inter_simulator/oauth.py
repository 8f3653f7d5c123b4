"""``POST /oauth/v2/token``: OAuth2 client credentials, form encoded."""

from typing import Annotated, Any

from fastapi import APIRouter, Form

from inter_simulator.deps import Sim

router = APIRouter(tags=["oauth"])


@router.post("/oauth/v2/token")
async def token(
    sim: Sim,
    client_id: Annotated[str, Form()],
    client_secret: Annotated[str, Form()],
    grant_type: Annotated[str, Form()],
    scope: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    value, issued, ttl = sim.tokens.issue(client_id, client_secret, grant_type, scope)
    return {
        "access_token": value,
        "token_type": "Bearer",
        "expires_in": int(ttl),
        "scope": " ".join(sorted(issued.scopes)),
    }
