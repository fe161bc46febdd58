"""Pure-Python core of the portal: model, rules, events and the ports adapters implement.

Nothing in this package imports anything outside the standard library.
"""
