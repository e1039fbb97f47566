"""labctl: a scriptable virtual lab orchestrator (topology YAML -> libvirt VMs -> verified demo)."""

__version__ = "0.1.0"
