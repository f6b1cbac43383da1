"""docs/ROS.md's parameter tables, generated from the nodes' ``PARAMS`` (the declared descriptors).

``python -m avatar.nodes.param_docs docs/ROS.md`` rewrites the text between the
``<!-- params:begin -->`` and ``<!-- params:end -->`` markers; test/test_ros_docs.py fails
when the file and the code disagree, so the tables cannot drift from what ``ros2 param
describe`` would show.
"""
import importlib
import json
import sys
from pathlib import Path

from avatar.core.graph import NODES
from avatar.nodes.lifecycle import AvatarLifecycleNode
from avatar.nodes.toolkit import AvatarNode, Param

BEGIN, END = "<!-- params:begin -->", "<!-- params:end -->"


def node_class(executable: str) -> type[AvatarNode]:
    """The AvatarNode subclass defined in ``avatar.nodes.<executable>``."""
    module = importlib.import_module(f"avatar.nodes.{executable}")
    return next(c for c in vars(module).values()
                if isinstance(c, type) and issubclass(c, AvatarNode) and c.__module__ == module.__name__)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _constraints(p: Param) -> str:
    notes = []
    if p.choices:
        notes.append(" \\| ".join(f"`{c}`" for c in p.choices))
    if p.range is not None:
        notes.append(f"{p.range[0]} .. {p.range[1]}")
    if p.read_only:
        notes.append("read-only")
    return ", ".join(notes)


def table(executable: str) -> str:
    cls = node_class(executable)
    managed = issubclass(cls, AvatarLifecycleNode)
    rows = [f"#### `{executable}`{' (lifecycle node)' if managed else ''}", "",
            "| parameter | default | constraints | description |", "|---|---|---|---|"]
    for p in cls.PARAMS:
        rows.append(f"| `{p.name}` | `{_cell(json.dumps(p.default))}` | {_constraints(p)} | {_cell(p.description)} |")
    return "\n".join(rows)


def tables() -> str:
    return "\n\n".join(table(n) for n in NODES)


def render(document: str) -> str:
    """``document`` with the text between the markers replaced by the current tables."""
    head, sep, rest = document.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"the document has no {BEGIN} ... {END} section")
    return f"{head}{BEGIN}\n{tables()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m avatar.nodes.param_docs docs/ROS.md", file=sys.stderr)
        return 2
    path = Path(args[0])
    path.write_text(render(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
