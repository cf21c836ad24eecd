"""Photo evidence on the server: tus resumable uploads, evidence records, signed downloads."""
