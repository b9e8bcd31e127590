"""Multimodal datasets: the embedded UCI digits, users' precomputed features, synthetic pools."""
from .dataset import POOL, TEST, VAL, MultimodalDataset, stratified_split
from .loader import dataset_from_arrays, load_dataset, load_features, load_mfeat
from .synthetic import make_synthetic

__all__ = ["MultimodalDataset", "POOL", "VAL", "TEST", "stratified_split", "dataset_from_arrays",
           "load_dataset", "load_features", "load_mfeat", "make_synthetic"]
