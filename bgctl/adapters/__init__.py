"""The adapters: everything that touches the world.

Compose and the Docker Engine, Envoy's admin API, route-file delivery, the
state file, the lock, the hook runner, the images, the load generator. Each
is thin; decisions live in the core and the order of steps in the lifecycle.
"""
