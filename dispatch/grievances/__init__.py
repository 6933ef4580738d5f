"""Grievances: a poor rating (1-2) opens one; a supervisor closes it with a note, and the
citizen is told."""
