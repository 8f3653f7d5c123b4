"""What a tenant name may be, the same for the admin API and the command line."""

import argparse
from typing import Annotated

from pydantic import Field, TypeAdapter, ValidationError

TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
TENANT_MAX_LENGTH = 64

Tenant = Annotated[str, Field(min_length=1, max_length=TENANT_MAX_LENGTH, pattern=TENANT_PATTERN)]
_TENANT: TypeAdapter[str] = TypeAdapter(Tenant)


def tenant_argument(value: str) -> str:
    """An ``argparse`` type: the tenant, or the reason it is refused."""
    try:
        return _TENANT.validate_python(value)
    except ValidationError:
        raise argparse.ArgumentTypeError(
            f"invalid tenant {value[:80]!r}: 1 to {TENANT_MAX_LENGTH} letters, digits, "
            "'_', '.' or '-', starting with a letter or digit"
        ) from None
