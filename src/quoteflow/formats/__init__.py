"""How records look outside the bus: the camelCase reference view and record files."""
