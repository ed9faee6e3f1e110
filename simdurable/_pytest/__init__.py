"""The logic behind ``_simdurable_pytestplugin``: settings, items, the ``sim`` factory.

The plugin module itself stays tiny and imports this package only when
``--simdurable`` is given or a test asks for the ``sim`` fixture.
"""
