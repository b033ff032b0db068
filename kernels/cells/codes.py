"""Integer codes of the cells and the sizes of their buffers, by code.

The kernels choose a cell by its integer code, never by a jitted function passed as an argument:
Numba's on-disk cache cannot key such an argument, so every process would compile afresh.
"""

RNN_TANH = 0
RNN_RELU = 1
LSTM = 2
GRU = 3

#: cell name -> integer code used by the kernels
CELL_CODES = {"rnn_tanh": RNN_TANH, "rnn_relu": RNN_RELU, "lstm": LSTM, "gru": GRU}
#: number of gate blocks of size H in the stacked weights, by cell code
N_GATES = (1, 1, 4, 3)
#: width of the per-step saved activations in units of H, by cell code
N_SAVED = (0, 0, 5, 4)
#: whether the cell has a second state (the LSTM's cell state c), by cell code
HAS_CELL_STATE = (False, False, True, False)
#: width, in units of H, of the backward pass's carry buffer ``dc``: the LSTM's dL/dc; the GRU's
#: direct path dL/dh_{t-1} = dL/dh_t * z, added after the recurrent product; none for the Elman RNN
N_CARRY = (0, 0, 1, 1)
#: names of the gates whose activations open a step's ``saved`` row, in that order, by cell code
#: (PyTorch's gate order; each a block of H): the LSTM's i, f, g, o and the GRU's r, z, n
GATE_NAMES = ((), (), ("i", "f", "g", "o"), ("r", "z", "n"))
