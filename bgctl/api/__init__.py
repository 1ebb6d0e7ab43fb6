"""The ECS API front door: `bgctl serve` answers a subset of ECS's JSON 1.1 API.

Beside the command line at the top of the house: requests come in on the wire
(server.py), are checked against botocore's ECS model and dispatched by name
(operations.py) to one module per kind of resource, which call the same
operations the verbs do. Deployments run in a worker thread of the server.
"""
