"""The daemon's running state: probe cycles, the observer that folds results into states, the store
writer, the security audit, vigia's own counters, RADIUS usage, and the LiveView read model that
the web room and the metrics read. Imports nothing of the web or jobs rooms."""
