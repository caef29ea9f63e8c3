"""The eligibility domain: entities, value objects and rules, without I/O."""
