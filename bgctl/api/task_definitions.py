"""task_definitions operations of the ECS API (to be written)."""
