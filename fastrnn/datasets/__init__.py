"""Small real data sets, loaded offline: time series shipped with fastrnn and a text corpus built
from the running Python (:func:`load_python_docstrings`, for :class:`fastrnn.CharRNN`).

========================  ======  ================================================================
loader                    length  what
========================  ======  ================================================================
load_airline_passengers   144     monthly international airline passengers (thousands), 1949-1960
load_sunspots("yearly")   309     yearly mean sunspot number, 1700-2008
load_sunspots("monthly")  3126    monthly mean sunspot number, 1749-01 to 2009-06
========================  ======  ================================================================

and four sequence-classification problems with their published training / test splits
(:func:`load_sequence_classification`):

================  ============  ========  ========  =======  ========================================
name              train / test  steps     features  classes  what
================  ============  ========  ========  =======  ========================================
GunPoint          50 / 150      150       1         2        hand motion: drawing a gun or pointing
ItalyPowerDemand  67 / 1029     24        1         2        a day's power demand: Oct-Mar or Apr-Sep
BasicMotions      40 / 40       100       6         4        smart-watch motion sensors: the activity
JapaneseVowels    270 / 370     7 to 29   12        9        cepstra of an utterance: the speaker
================  ============  ========  ========  =======  ========================================

Sources:

- Airline passengers: Box, G. E. P., Jenkins, G. M. and Reinsel, G. C. (1976), *Time Series
  Analysis, Forecasting and Control*, third edition, Holden-Day, Series G. The numbers were taken
  from the copy in sktime (``sktime/datasets/data/Airline/Airline.csv``, sktime is BSD-3-Clause).
  The series is a published table of facts, reproduced in most forecasting texts.
- Sunspots: National Geophysical Data Center (NOAA), yearly and monthly mean sunspot numbers
  (http://www.ngdc.noaa.gov/stp/solar/solarda3.html), public domain (a U.S. government work). The
  numbers were taken from the copy in statsmodels (``statsmodels/datasets/sunspots``); values
  after December 2008 were marked preliminary by the source.
- Sequence classification: the UCR time series classification archive (Dau et al., 2019, IEEE/CAA
  Journal of Automatica Sinica 6(6)) for GunPoint and ItalyPowerDemand, and the UEA multivariate
  archive (Bagnall et al., 2018, arXiv:1811.00075) for BasicMotions and JapaneseVowels (which comes
  from the UCI repository). The archives are free for research and teaching and ask to be cited.
  The values were taken from the copies in sktime (``sktime/datasets/data``) and stored as float32.
"""

import csv
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from ._classification import SEQUENCE_CLASSIFICATION_SETS, ClassificationDataset, load_sequence_classification
from ._text import load_python_docstrings

__all__ = ["ClassificationDataset", "SEQUENCE_CLASSIFICATION_SETS", "SeriesDataset", "load_airline_passengers",
           "load_python_docstrings", "load_sequence_classification", "load_sunspots"]


@dataclass(frozen=True)
class SeriesDataset:
    """A univariate time series with its time stamps and provenance.

    Attributes
    ----------
    values : (n_steps,) float64 ndarray
        The observations.
    time : (n_steps,) ndarray
        Time stamps (``datetime64[M]`` for monthly series, integer years for yearly ones).
    name, unit, frequency, source, licence : str
        Description of the series.
    period : int
        Length of the main seasonal cycle in steps (12 for monthly data with a yearly season, 11 for
        the yearly sunspot cycle, 132 for the monthly one), for seasonal baselines.
    """

    values: np.ndarray = field(repr=False)
    time: np.ndarray = field(repr=False)
    name: str
    unit: str
    frequency: str
    period: int
    source: str
    licence: str

    def __len__(self):
        return len(self.values)


def _read_csv(filename):
    with resources.files(__name__).joinpath("data", filename).open("r", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return [row[0] for row in rows[1:]], np.array([float(row[1]) for row in rows[1:]])


def load_airline_passengers():
    """Monthly totals of international airline passengers, January 1949 to December 1960.

    Returns
    -------
    SeriesDataset
        144 values in thousands of passengers; ``time`` is ``datetime64[M]``; ``period`` is 12.
    """
    months, values = _read_csv("airline_passengers.csv")
    return SeriesDataset(
        values=values, time=np.array(months, dtype="datetime64[M]"),
        name="International airline passengers", unit="thousands of passengers", frequency="monthly",
        period=12,
        source="Box, Jenkins & Reinsel (1976), Time Series Analysis: Forecasting and Control, Series G",
        licence="published table of facts (copied from sktime, BSD-3-Clause)",
    )


def load_sunspots(frequency="yearly"):
    """Mean sunspot numbers from NOAA's National Geophysical Data Center.

    Parameters
    ----------
    frequency : {"yearly", "monthly"}
        Yearly means 1700-2008 (309 values, ``time`` in integer years, ``period`` 11) or monthly
        means 1749-01 to 2009-06 (3126 values, ``time`` in ``datetime64[M]``, ``period`` 132).

    Returns
    -------
    SeriesDataset
    """
    if frequency not in ("yearly", "monthly"):
        raise ValueError(f"frequency must be 'yearly' or 'monthly', got {frequency!r}.")
    stamps, values = _read_csv(f"sunspots_{frequency}.csv")
    if frequency == "yearly":
        time, period = np.array(stamps, dtype=np.int64), 11
    else:
        time, period = np.array(stamps, dtype="datetime64[M]"), 132
    return SeriesDataset(
        values=values, time=time, name=f"Sunspot number ({frequency} mean)", unit="sunspot number",
        frequency=frequency, period=period,
        source="NOAA National Geophysical Data Center, http://www.ngdc.noaa.gov/stp/solar/solarda3.html",
        licence="public domain (U.S. government work; copied from statsmodels)",
    )
