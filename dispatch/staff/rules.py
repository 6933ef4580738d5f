"""Who may do what in the console: roles and the permissions each one carries (pure data).

Every console route names one `Permission`; the web layer checks it on the server for every
request. Roles are not a ladder: a call agent books and rings back, a dispatcher runs the
districts' days, a supervisor does both and answers for pendency, fees and feedback, an admin
also manages the staff, the agents, the catalogue and the API clients.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CALL_AGENT = "call_agent"
    DISPATCHER = "dispatcher"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class Permission(StrEnum):
    INTAKE = "intake"  # find or register citizens, book on a caller's behalf
    CALLBACKS = "callbacks"  # the queue of callers waiting for a person or a call-back
    VIEW_REQUESTS = "view_requests"  # the requests list, search and detail (personal data)
    CHANGE_REQUESTS = "change_requests"  # reschedule, cancel
    DISPATCH = "dispatch"  # the board: reassign, raise priority, re-plan, lock routes
    MANAGE_STAFF = "manage_staff"  # accounts, roles, passwords
    SUPERVISE = "supervise"  # pendency, fees and their reconciliation, feedback and grievances
    ADMINISTER = "administer"  # agents (skills, shifts, leave), services, API clients
    DEVELOPER_TOOLS = "developer_tools"  # the SMS outbox and the phone simulator (development)


_CALL_AGENT = {
    Permission.INTAKE,
    Permission.CALLBACKS,
    Permission.VIEW_REQUESTS,
    Permission.CHANGE_REQUESTS,
    Permission.DEVELOPER_TOOLS,
}
_DISPATCHER = {
    Permission.VIEW_REQUESTS,
    Permission.CHANGE_REQUESTS,
    Permission.DISPATCH,
    Permission.DEVELOPER_TOOLS,
}

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CALL_AGENT: frozenset(_CALL_AGENT),
    Role.DISPATCHER: frozenset(_DISPATCHER),
    Role.SUPERVISOR: frozenset(_CALL_AGENT | _DISPATCHER | {Permission.SUPERVISE}),
    Role.ADMIN: frozenset(Permission),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]


def roles_with(permission: Permission) -> list[Role]:
    return [r for r in Role if allows(r, permission)]
