"""The data path: the request flow, fills and their spools, and the one delivery step."""
