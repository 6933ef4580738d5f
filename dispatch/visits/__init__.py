"""visits: the use cases of a doorstep visit that span several concepts (book, reschedule,
cancel, status), each one call and one all-or-nothing unit, keyed for safe retries."""
