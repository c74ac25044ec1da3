"""`sketchcolor train`: placeholder until its issue lands; replace this whole file."""


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="(not built yet)")
    parser.set_defaults(run=run)


def run(args) -> int:
    raise NotImplementedError("sketchcolor train is not built yet")
