"""vigia's daemon: configuration, scheduling, state, store, metrics and the CLI."""
