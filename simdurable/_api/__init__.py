"""The handler API: what handler code sees, mirroring restate-sdk.

Contexts, durable futures, services and their handlers, step options, serdes and
fake externals. It sits on the runtime core (``simdurable/runtime``) and knows
nothing of the hosts that drive it (the simulation, the live executor).
"""
