"""The node's figures: counted as plain integers, exposed as Prometheus families at scrape time.

    catalogue.py   every family edge exposes, one declaration each (name, kind, help, labels)
    core.py        the counting core: pre-bound cells and histogram arrays, one ``Meters`` a node
    outcomes.py    the cache outcome and the tier of one answer, from deliver's ``Outcome``
    upstream.py    the origin's and parents' requests, errors by kind and latency
    watches.py     figures read when scraped from parts that hold them (the control plane)
    raw.py         a worker's figures as plain data, and the leader's label-by-label merge
    exposition.py  the Prometheus families, built from raw figures only when scraped
    quantiles.py   p50/p90/p99 from histogram buckets (for /stats, ``edge top``)

The request path only adds to integers and list slots it holds already (a
histogram child is a list of bucket counts, a sum and a tuple of bounds found
by ``bisect``); nothing from ``prometheus_client`` is touched until a scrape.
"""
