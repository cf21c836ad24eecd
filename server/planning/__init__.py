"""Recheck planning: schedules, complaints, visits, assignment and routes."""
