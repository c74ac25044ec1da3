"""`sketchcolor quickstart`: placeholder until its issue lands; replace this whole file."""


def register(subparsers) -> None:
    parser = subparsers.add_parser("quickstart", help="(not built yet)")
    parser.set_defaults(run=run)


def run(args) -> int:
    raise NotImplementedError("sketchcolor quickstart is not built yet")
