"""Accounts and security: users, API keys, JWT, tiers, rate limits, IP allowlists, erase."""
