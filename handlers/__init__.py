"""Tornado handlers, one module per area; each module ends with its ``routes``."""
