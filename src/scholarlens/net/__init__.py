"""Talking to the scholarly APIs: one HTTP layer (http.py) under every client."""
