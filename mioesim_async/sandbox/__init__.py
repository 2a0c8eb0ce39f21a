"""
A faithful local MIOeSIM server, for tests, demos and benchmarks.

>>> from mioesim_async.sandbox import Sandbox
>>> sandbox = Sandbox(cards=10, seed=0)
>>> len(sandbox.iccids)
10

``Sandbox.app`` is the ASGI application, ``Sandbox.client()`` a client wired
to it in process, and ``Sandbox.serve()`` serves it over HTTP on loopback.
``Faults`` makes it misbehave on purpose; ``Stats`` counts what it saw.
"""

from ._faults import Faults, Stats
from ._sandbox import Sandbox

__all__ = ["Faults", "Sandbox", "Stats"]
