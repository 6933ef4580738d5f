"""Staff of the console: call agents, dispatchers, supervisors and admins, their sign-ins."""
