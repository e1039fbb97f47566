"""Backends: the only code that touches hypervisors and host networking."""
