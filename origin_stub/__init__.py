"""The demo and test origin."""
