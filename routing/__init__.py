"""Routing: a pure VRPTW library (agents, visits, time windows) on OR-Tools.

Holds the model, solver, real-time insertion, travel-time providers, the independent
feasibility checker and benchmark instance readers. Knows nothing of the database, the
web or Twilio: `dispatch.planning` is its only caller inside Doorstep.
"""
