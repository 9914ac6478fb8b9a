"""Density of architectures in gradient space (the debiased sampler's machinery).

Pure tensors in, tensors / arrays out; no training loop here.

  features.py    per-architecture gradients of selected weight tensors (one tensor, one layer),
                 without touching weights, .grad, optimizer state or BN running statistics;
                 a seeded Gaussian (Johnson-Lindenstrauss) projection to a fixed dimension
  distances.py   cosine (per layer, then averaged), Hamming and linear-CKA distance matrices
  estimators.py  density estimators (ESTIMATORS registry): inverse mean distance, Gaussian KDE
  mapping.py     density -> logit mappings (MAPPINGS registry) and a stable softmax
  prototypes.py  bounded-memory online k-means over gradient embeddings, for spaces too large to
                 enumerate
"""

from harness.density.distances import (
    cka_distance_matrix,
    cosine_distance_matrix,
    feature_maps,
    hamming_distance_matrix,
    layer_averaged_cosine,
)
from harness.density.estimators import ESTIMATORS, estimate_density, inverse_mean_distance, kde
from harness.density.features import (
    GaussianProjection,
    gradient_features,
    select_feature_tensors,
)
from harness.density.mapping import MAPPINGS, density_logits, sampling_probabilities
from harness.density.prototypes import OnlinePrototypes

__all__ = [
    "ESTIMATORS",
    "MAPPINGS",
    "GaussianProjection",
    "OnlinePrototypes",
    "cka_distance_matrix",
    "cosine_distance_matrix",
    "density_logits",
    "estimate_density",
    "feature_maps",
    "gradient_features",
    "hamming_distance_matrix",
    "inverse_mean_distance",
    "kde",
    "layer_averaged_cosine",
    "sampling_probabilities",
    "select_feature_tensors",
]
