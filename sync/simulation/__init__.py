"""Proof under faults: a fault-injecting proxy, the server as a killable process, and a fleet of devices."""
