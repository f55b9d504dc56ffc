"""Integration tests: real uvicorn/daphne processes, Redis and PostgreSQL on 127.0.0.1."""
