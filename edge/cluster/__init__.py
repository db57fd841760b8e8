"""Multi-edge: the shield tier (a consistent-hash ring of parents) and the control plane.

- :mod:`edge.cluster.ring`: which parent owns a cache key, and who is next when it is down.
- :mod:`edge.cluster.parents`: the data path: misses go to the owning parent, then the origin.
- :mod:`edge.cluster.control`: purges and version bumps travel over NATS JetStream
  (:mod:`~edge.cluster.connection`, :mod:`~edge.cluster.consumer`, :mod:`~edge.cluster.gaps`).
- :mod:`edge.cluster.coordinator`: a node's purges and bumps, on its workers and the cluster.
"""
