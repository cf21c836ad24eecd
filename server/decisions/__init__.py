"""Decisions: the policy engine (pure), the programme rules, and the review steps after it."""
