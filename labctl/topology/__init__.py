"""load: topology YAML in, a validated Topology out, or a TopologyError naming each culprit by line."""
