"""Build, repair and polish routes in pure Python: the optimizer's quick engine.

The OR-Tools adapter is the heavy engine; this package answers in milliseconds. It keeps the
rules ``verify_plan`` checks (time windows on arrival with waiting allowed, shift end,
capacity, parcel size, range, fixed vehicles, locked prefixes) and prices routes exactly as
the adapter's objective does, so a plan made here can be returned as it is or handed to the
solver as its first solution.

Three uses:

- ``repair``: start from ``RouteProblem.initial`` (the current plan), take out what no longer
  fits, insert what is new (regret insertion), then rebuild and relocate around the change
  only. One customer's change touches a few routes, not everybody's day.
- ``construct``: the same from empty routes (a cold first plan).
- ``routes_cost``: price stop orders as the solver does.

Modules, each using only the ones before it:

- ``costs``: the arc price (``money_cost_row``) and who may serve a stop (``can_serve``,
  ``drop_reason``), shared with the adapter.
- ``routes``: ``RouteBuilder``, one problem's per-node numbers and its routes' bookkeeping
  (earliest and latest service starts, so an insertion is checked in O(1)).
- ``seeding``: routes from locked prefixes and the current plan (``start_routes``).
- ``insertion``: regret insertion (``insert_all``).
- ``local_search``: ``relocate_descent`` and ``rebuild_around``.
- ``fewer_routes``: ``eliminate_routes`` (empty whole routes through ejection chains).
- ``plans``: the entry points above, and stop orders of plans (``plan_orders``,
  ``changed_arcs``).
"""

from .costs import COST_SCALE, can_serve, drop_reason, money_cost_row
from .fewer_routes import eliminate_routes
from .insertion import GRANULAR_ABOVE, insert_all
from .local_search import rebuild_around, relocate_descent
from .plans import SWITCH_SHARE, changed_arcs, construct, plan_orders, repair, routes_cost
from .routes import NEIGHBOURS, RouteBuilder, Routes
from .seeding import start_routes

__all__ = [
    "COST_SCALE",
    "GRANULAR_ABOVE",
    "NEIGHBOURS",
    "SWITCH_SHARE",
    "RouteBuilder",
    "Routes",
    "can_serve",
    "changed_arcs",
    "construct",
    "drop_reason",
    "eliminate_routes",
    "insert_all",
    "money_cost_row",
    "plan_orders",
    "rebuild_around",
    "relocate_descent",
    "repair",
    "routes_cost",
    "start_routes",
]
