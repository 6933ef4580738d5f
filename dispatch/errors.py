"""The domain's error tree. Every error carries structured attributes and a clear message.

    DispatchError
    ├── NotFound              (entity, key)           -> 404
    ├── InvalidInput          (field, value, reason)  -> 422
    │   ├── InvalidPhone
    │   ├── InvalidFee
    │   ├── OutsideServiceArea
    │   └── InvalidReference
    ├── InvalidTransition     (from_status, to_status) -> 409
    ├── Conflict              (entity, key)            -> 409 (someone else changed it first)
    └── SeedError             (file, line, reason)     -> the seed load fails and writes nothing

Adapters translate these at the edge: the web pages to 404/409/422, the IVR to a prompt.
"""

from __future__ import annotations

from typing import Any


class DispatchError(Exception):
    """Root of every error the domain raises on purpose."""


class NotFound(DispatchError):
    def __init__(self, entity: str, key: Any) -> None:
        self.entity = entity
        self.key = key
        super().__init__(f"{entity} {key!r} not found")


class InvalidInput(DispatchError):
    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


class InvalidPhone(InvalidInput):
    pass


class InvalidFee(InvalidInput):
    pass


class OutsideServiceArea(InvalidInput):
    pass


class InvalidReference(InvalidInput):
    pass


class InvalidTransition(DispatchError):
    def __init__(self, from_status: str, to_status: str, reason: str = "") -> None:
        self.from_status = from_status
        self.to_status = to_status
        detail = f": {reason}" if reason else ""
        super().__init__(f"cannot go from '{from_status}' to '{to_status}'{detail}")


class Conflict(DispatchError):
    def __init__(self, entity: str, key: Any, reason: str = "changed by someone else") -> None:
        self.entity = entity
        self.key = key
        super().__init__(f"{entity} {key!r}: {reason}; reload and try again")


class SeedError(DispatchError):
    def __init__(self, file: str, line: int, reason: str) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        super().__init__(f"{file}:{line}: {reason}")
