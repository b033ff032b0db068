"""Compute kernels of fastrnn, installed as ``fastrnn.kernels``.

``cells`` holds the per-cell pointwise math (one step forward, one step backward); ``cpu`` holds the
``@njit`` time loops that every cell shares. Kernels never import the public API.
"""

from .cells import CELL_CODES, N_GATES, N_SAVED

__all__ = ["CELL_CODES", "N_GATES", "N_SAVED"]
