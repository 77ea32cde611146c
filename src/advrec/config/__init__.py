"""The config machinery every component shares: strict pydantic models, registries of named components,
the bounded YAML reader, ``extends:`` chains, ``--set`` overrides and one-line errors. A run's config
itself is ``advrec.runs.config.RunConfig``; each section is owned by its component."""
