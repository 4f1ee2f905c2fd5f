"""The kernel: what every layer shares and nothing of the project's own is imported by.

The exception tree, units (durations, sizes, intervals), the strict model base, the YAML loader
that keeps positions, and the URL helpers (redaction, database URLs).
"""
