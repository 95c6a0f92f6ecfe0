"""The routing engine: pure functions from an envelope (and a little context) to a `Decision`. No I/O."""

from router.engine import Router, RoutingContext, compile_router

__all__ = ["Router", "RoutingContext", "compile_router"]
