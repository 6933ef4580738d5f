"""retention: personal data purged once it is older than the state keeps it (DPDP)."""
