"""The zone agent: ``vigia agent run``, a lean daemon on a small box on a zone's LAN.

It measures the zone as a citizen meets it (the checks its centre lists for it), keeps every
result in its outbox (store.outbox) before any send, and pushes them to the centre, which stores
each once (monitor.web.ingest). Its rooms: settings (its file), checks (what the centre asks,
cached on disk), measure (the checks on their intervals), push (outbox to centre, fail-over and
backoff), run (lifecycle and signals).
"""
