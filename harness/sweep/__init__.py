"""Settings sweeps: a grid of scenario overrides, each combination run (and repeated) on one cluster.

``spec`` holds the ``repeat:`` and ``sweep:`` sections of a scenario file, ``plan`` the grid, its order
and its time estimate, ``state`` the results file and resuming, ``runner`` the loop over the cells and
``report`` the table and the heat map. This package imports none of them itself: the scenario model
imports ``spec``, and ``spec`` must not pull in the run machinery.
"""
