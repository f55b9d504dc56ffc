"""Live chat for Django on Channels."""

__version__ = "0.1.0"
