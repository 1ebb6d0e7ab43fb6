"""clusters operations of the ECS API (to be written)."""
