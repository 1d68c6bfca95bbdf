"""One module per ``ihanoi-edge`` verb; each has ``add_arguments(parser)`` and ``run(args) -> int``."""
