"""Alerts for supervisors: a legal time limit near, reached or passed, and a day's fees that
do not reconcile. Raised by scheduled tasks, once per subject, and acknowledged in the
console."""
