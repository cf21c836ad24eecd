"""Photo evidence without a web framework: object storage, the image pipeline, upload helpers.

Everything here blocks (file and network I/O, Pillow); the server calls it from a worker thread.
"""
