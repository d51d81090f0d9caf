"""Framework-free core: formats, tensor specs, the Model and Step contracts, registry, errors, reports, atomic I/O."""
