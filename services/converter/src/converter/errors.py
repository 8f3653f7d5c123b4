from shared.events import ErrorCode


class ConversionError(Exception):
    """A conversion failure with a stable code (docs/architecture.md, "Errors")."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
