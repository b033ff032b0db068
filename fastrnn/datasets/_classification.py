"""Small public sequence-classification problems from the UCR and UEA time-series archives.

Each is stored as one ``.npz`` file (read without pickle): the concatenated time steps of each split
as float32 (``values_train``: (sum of lengths, n_features)), the length of every sequence
(``lengths_train``) and the labels as published (``y_train``), and the same for ``test``.
"""

from dataclasses import dataclass, field
from importlib import resources

import numpy as np

_UCR = ("Dau, H. A., Bagnall, A., Kamgar, K., Yeh, C.-C. M., Zhu, Y., Gharghabi, S., Ratanamahatana, C. A. and "
        "Keogh, E. (2019), The UCR time series archive, IEEE/CAA Journal of Automatica Sinica 6(6), 1293-1305")
_UEA = ("Bagnall, A., Dau, H. A., Lines, J., Flynn, M., Large, J., Bostrom, A., Southam, P. and Keogh, E. (2018), "
        "The UEA multivariate time series classification archive, 2018, arXiv:1811.00075")
_TERMS = ("free for research and teaching, with a request to cite the archive; copied from the copy in sktime "
          "(BSD-3-Clause)")

# name -> (description, source)
_SETS = {
    "GunPoint": (
        "The x coordinate of an actor's right hand, 150 steps, in one of two motions: drawing a replica gun "
        "from a hip holster and pointing it, or pointing with the index finger (labels '1' and '2'). 50 "
        "training and 150 test series.",
        f"UCR archive, GunPoint (Ratanamahatana and Keogh, 2005). {_UCR}"),
    "ItalyPowerDemand": (
        "24 hourly values of Italy's electrical power demand on one day, a day from October to March or "
        "from April to September (labels '1' and '2'). 67 training and 1029 test series.",
        f"UCR archive, ItalyPowerDemand (Keogh et al., 2006). {_UCR}"),
    "BasicMotions": (
        "Ten seconds of a smart watch's 3-D accelerometer and 3-D gyroscope (6 features, 100 steps) while "
        "'Standing', 'Walking', 'Running' or playing 'Badminton'. 40 training and 40 test recordings.",
        f"UEA archive, BasicMotions. {_UEA}"),
    "JapaneseVowels": (
        "12 linear-prediction cepstrum coefficients per frame of nine male speakers uttering the two vowels /ae/ in succession; "
        "the label is the speaker ('1'..'9'). Sequences of 7 to 29 frames: X is a list of (n_steps_i, 12) "
        "arrays. 270 training and 370 test utterances.",
        f"UEA archive, JapaneseVowels, from the UCI repository (Kudo, Toyama and Shimbo, 1999, Pattern "
        f"Recognition Letters 20, 1103-1111). {_UEA}"),
}

SEQUENCE_CLASSIFICATION_SETS = tuple(_SETS)


@dataclass(frozen=True)
class ClassificationDataset:
    """Labelled sequences, split into the training and test sets of their publication.

    Attributes
    ----------
    X_train, X_test : (n_samples, n_timesteps, n_features) float64 ndarray, or list
        The sequences; a list of (n_steps_i, n_features) arrays when their lengths differ (fastrnn's
        estimators take such lists as they are).
    y_train, y_test : (n_samples,) ndarray of str
        The labels as published.
    name, description, source, licence : str
        What the data are and where they come from.
    """

    X_train: object = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    X_test: object = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    name: str
    description: str
    source: str
    licence: str

    @property
    def classes(self):
        """The sorted labels of the training set."""
        return np.unique(self.y_train)


def _split(archive, split):
    values = archive[f"values_{split}"].astype(np.float64)
    lengths = archive[f"lengths_{split}"]
    sequences = np.split(values, np.cumsum(lengths)[:-1])
    X = np.stack(sequences) if np.all(lengths == lengths[0]) else sequences
    return X, archive[f"y_{split}"]


def load_sequence_classification(name):
    """A small public sequence-classification problem (UCR / UEA archives), offline.

    Parameters
    ----------
    name : {"GunPoint", "ItalyPowerDemand", "BasicMotions", "JapaneseVowels"}
        GunPoint and ItalyPowerDemand are univariate with two classes, BasicMotions has 6 features
        and 4 classes, JapaneseVowels 12 features, 9 classes and sequences of different lengths.

    Returns
    -------
    ClassificationDataset

    Examples
    --------
    >>> from fastrnn.datasets import load_sequence_classification
    >>> data = load_sequence_classification("GunPoint")
    >>> data.X_train.shape, data.X_test.shape, data.classes.tolist()
    ((50, 150, 1), (150, 150, 1), ['1', '2'])
    """
    if name not in _SETS:
        raise ValueError(f"name must be one of {list(_SETS)}, got {name!r}.")
    with resources.files(__package__).joinpath("data", "classification", f"{name}.npz").open("rb") as handle:
        with np.load(handle, allow_pickle=False) as archive:
            X_train, y_train = _split(archive, "train")
            X_test, y_test = _split(archive, "test")
    description, source = _SETS[name]
    return ClassificationDataset(X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test, name=name,
                                 description=description, source=source, licence=_TERMS)
