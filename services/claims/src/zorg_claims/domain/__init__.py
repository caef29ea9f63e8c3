"""The claims domain: entities, value objects and rules, without I/O."""
