"""One package per method (see ../shared/DESIGN.md): config, model, train, infer, eval, job."""
