"""The inbox daemon: a thin sync client that delivers markdown files to the server over HTTP.

It never imports ``server``; it shares only ``config`` with it.
"""

__version__ = "0.1.0"
