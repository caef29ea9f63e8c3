"""The contracting domain: entities, value objects and rules, without I/O."""
