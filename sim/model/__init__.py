"""The model: a market of firms (Mesa agents) and customers, stepped week by week.

``market`` (the model), ``firms`` and ``policies`` (what firms do), ``customers`` (the
population as arrays) and ``agents`` (the same rules, one Mesa agent per customer), both
holding the state declared in ``state``; ``network``, ``shocks``, ``streams`` (common random
numbers), ``vocabulary`` (the words they share) and ``metrics`` (what is recorded).
"""
