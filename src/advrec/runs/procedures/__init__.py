"""The training procedures a model can need, one module each, registered in ``advrec.runs.setup.PROCEDURES``:
how a run of that family is built (model, procedure, protocol, hooks) from its config."""
