"""Framework-free core: formats, artifacts, registry, errors, reports, atomic I/O."""
