"""Pure domain records shared by every layer: no I/O here."""
