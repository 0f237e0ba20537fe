"""The local nginx + N processes stack, for ``./run --processes N`` and the tests.

Not part of the installed service: it imports taskhub, taskhub never imports it.
"""
