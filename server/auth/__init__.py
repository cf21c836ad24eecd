"""Accounts, roles, devices, tokens and login rate limits."""
