"""The routing engine: pure functions from an envelope (and a little context) to a `Decision`. No I/O.

The engine is `router.engine` (`Router`, `RoutingContext`, `compile_router`); this package imports nothing itself,
so a module that needs only `router.hours` or `router.sla` (the CLI's `queues`, the desk) does not load the engine
and numpy with it.
"""
