"""Pure analytics over decoded chain records: MEV detection and, later, wallet and risk views.

Nothing here performs I/O; callers hand in records and get records back.
"""
