"""service_deployments operations of the ECS API (to be written)."""
