# Dev runs the candidate already.
release = "v2"
