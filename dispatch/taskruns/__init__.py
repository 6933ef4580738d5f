"""The scheduled tasks' record: each task's last run, how long it took, how it ended, and when
it runs next (shown to supervisors)."""
