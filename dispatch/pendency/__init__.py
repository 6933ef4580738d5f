"""Pendency: open requests against the legal time limit and the promised visit window."""
