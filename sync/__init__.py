"""The sync protocol, free of any web framework: change feed, push, merge, and the reference client."""
