"""Fronts: turn a wire protocol into requests for the flow and render what it delivers."""
