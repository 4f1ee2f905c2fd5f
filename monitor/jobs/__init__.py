"""The daemon's scheduled work: the jobs table, the leader lease as the daemon uses it, the drills'
watch, and the month jobs (close, roll-up) run in child processes."""
