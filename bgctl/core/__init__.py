"""The pure core: data in, data out.

Traffic state and route rendering, the lifecycle as data, deployment records,
task-definition parsing, hook answers, configuration. Nothing here touches
the world (files, processes, the network, Docker, clocks); `tests/test_layers.py`
holds it to that.
"""
