"""A running lab: its saved state and the up/down lifecycle that drives a backend."""
