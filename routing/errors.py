"""The routing library's one exception tree.

Holds the exceptions `routing` raises; nothing else. Unassigned visits are *not* errors: they
come back as data in a plan (`routing.plan.Unassigned`). Everything raised on purpose derives
from `RoutingError`, so a caller can catch the library as a whole::

    RoutingError
     +-- InvalidProblem        a model value is wrong (names the field and the bad value)
     +-- InvalidPlan           a plan does not fit its problem (unknown visit, agent, duplicate)
     +-- TravelTimeError       a travel-time provider could not answer (server down, bad reply)
     +-- InstanceFormatError   a benchmark instance or best-known-solutions file is malformed

`InvalidProblem` also derives from `ValueError`, so it reads naturally at validation sites.
"""

from __future__ import annotations


class RoutingError(Exception):
    """Base class of every error raised on purpose by `routing`."""


class InvalidProblem(RoutingError, ValueError):
    """A value given to a model constructor is invalid.

    Attributes:
        field: dotted name of the offending field, e.g. ``"visit[v7].windows"``.
        value: the offending value as given.
        reason: what is wrong with it, in plain words.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


class InvalidPlan(RoutingError):
    """A plan refers to visits or agents its problem does not have, or repeats a visit.

    Attributes:
        reason: what is wrong with the plan.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class TravelTimeError(RoutingError):
    """A travel-time provider failed (unreachable server, malformed or incomplete reply).

    Attributes:
        provider: short name of the provider, e.g. ``"osrm"``.
        reason: what went wrong.
    """

    def __init__(self, provider: str, reason: str) -> None:
        self.provider = provider
        self.reason = reason
        super().__init__(f"{provider}: {reason}")


class InstanceFormatError(RoutingError):
    """A benchmark instance or best-known-solutions file could not be parsed.

    Attributes:
        source: file name (or ``"<text>"``) being read.
        line: 1-based line number where parsing failed, or 0 when not line-specific.
        reason: what was expected.
    """

    def __init__(self, source: str, line: int, reason: str) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {reason}")
