"""One domain error per app subclasses ApplicationError; the API and the forms turn it into a
refusal the user can read."""


class ApplicationError(Exception):
    def __init__(self, code: str, message: str, errors: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors or {}

    def __str__(self) -> str:
        return self.message


class Forbidden(ApplicationError):
    """The user may see the object but not do this to it (HTTP 403)."""

    def __init__(self, message: str = "您没有执行该操作的权限。"):
        super().__init__("permission_denied", message)
