"""The classroom dashboard's parts: twin worlds, followed customers, guided lessons.

``worlds`` builds two markets that share customers, network and luck and differ only in the
first firm's policy; ``journey`` keeps a diary of watched customers and tells their weeks in
plain words; ``lessons`` reads the guided lessons; ``room`` is one class's session (the worlds, the
lesson step, the customers followed); ``views`` draws it all with Solara.
``sim/app.py`` assembles the page.
"""
