"""bgctl: ECS native blue/green deployments with Service Connect, on one machine."""

__version__ = "0.1.0"
