"""Pointwise math of each recurrent cell, one module per cell, shared by the CPU and the GPU kernels.

The time loops in :mod:`fastrnn.kernels.cpu` and :mod:`fastrnn.kernels.cuda` are shared by every
cell. They compute the matrix products (input projection, recurrent product of each step) and call
this package for the elementwise part, choosing the cell by an integer code (:mod:`.codes`).

Each cell module (:mod:`.elman`, :mod:`.lstm`, :mod:`.gru`) holds, side by side, the cell's
scalar equations and the two forms that apply them to memory:

- the *unit form* (``unit_forward``, ``unit_backward``): unit ``j`` of one sequence, reading and
  writing its rows at offsets; the GPU kernels run one per thread;
- the *row form* (``forward_row``, ``backward_row``): all units of one sequence as short passes over
  contiguous rows, which LLVM vectorizes; the CPU time loops run one per batch row.

:mod:`.activations` holds the activation functions and their gradients; :mod:`.step` dispatches by
cell code (:func:`unit_forward`, :func:`unit_backward`, :func:`forward_step`, :func:`backward_step`).

Conventions (PyTorch's, so weights move between the libraries by name):

- gate pre-activations are stacked along the last axis in blocks of ``H``: RNN one block, LSTM four
  (``i, f, g, o``), GRU three (``r, z, n``);
- ``gx`` holds the input projection ``W_ih x_t`` plus the biases that go with it and ``gh`` the
  recurrent product ``W_hh h_{t-1}`` plus the rest (:func:`.gru.recurrent_bias_block`: all of
  ``b_ih + b_hh`` goes into ``gx`` except the GRU's ``b_hn``, which goes into ``gh``); they are kept
  apart so that a cell whose recurrent term is gated (GRU) can use them separately;
- ``saved`` holds what the backward step needs beyond the states: nothing for the Elman RNN (its
  output is enough), ``[i, f, g, o, tanh(c_t)]`` for the LSTM, ``[r, z, n, W_hn h_{t-1} + b_hn]`` for
  the GRU.
"""

from .codes import CELL_CODES, GATE_NAMES, GRU, HAS_CELL_STATE, LSTM, N_CARRY, N_GATES, N_SAVED, RNN_RELU, RNN_TANH
from .gru import recurrent_bias_block
from .step import backward_step, forward_step, unit_backward, unit_forward

__all__ = ["CELL_CODES", "GATE_NAMES", "N_GATES", "N_SAVED", "HAS_CELL_STATE", "N_CARRY", "RNN_TANH", "RNN_RELU",
           "LSTM", "GRU", "recurrent_bias_block", "unit_forward", "unit_backward", "forward_step", "backward_step"]
