"""The torch backend of the clustering ops: the reference implementations themselves (any device)."""
from ..._dispatch import implements
from ...reference import clustering as ref

implements("nearest_centroid", "torch")(ref.nearest_centroid)
implements("kmeans_plusplus", "torch")(ref.kmeanspp)
implements("cluster_sums", "torch")(ref.cluster_sums)
