"""Benchmarks of django_livechat against the Channels tutorial pattern (``make bench``)."""
