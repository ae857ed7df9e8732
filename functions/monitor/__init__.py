"""The monitor function: drift reports on a schedule (:mod:`monitor.app`) or on demand
(``python -m monitor``).
"""
