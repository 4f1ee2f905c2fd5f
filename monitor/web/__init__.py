"""What the daemon serves: the HTTP listeners and their web configuration, the metrics exposition
and its collectors, the read-only API, the public status page, and the publisher that refreshes
them from what operators entered. Reads the runtime through its LiveView."""
