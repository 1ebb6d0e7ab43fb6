"""The lifecycle engine: drives the adapters through the ECS blue/green stages.

It talks to the world only through the small interfaces in `ports.py`, so
unit tests run every path with fakes and a fake clock.
"""
