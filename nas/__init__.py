"""Neural-architecture search over where attention belongs in lightweight super-resolution networks."""

__version__ = "0.1.0"
