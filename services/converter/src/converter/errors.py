from shared.events import ErrorCode


class ConversionError(Exception):
    """A conversion failure with a stable code (docs/architecture.md, "Errors").

    ``message`` goes to the user and is chosen by us; ``detail`` (a Java exception's text,
    which may name internal paths) is only logged."""

    def __init__(self, code: ErrorCode, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.detail = detail
