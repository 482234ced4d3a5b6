"""scholarlens: researcher profiles from open scholarly data."""

__version__ = "0.1.0"
