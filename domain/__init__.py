"""The domain: vigia's rules, free of storage, scheduling and sockets.

Target state and its hysteresis, the findings catalogue and its rules. It imports only probes
(result types) and the kernel.
"""
