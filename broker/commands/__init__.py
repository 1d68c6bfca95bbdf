"""One module per ``ihanoi-broker`` verb: ``add_arguments(parser)`` and ``run(args) -> int``."""
