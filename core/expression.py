"""The expression control vector: canonical names, neutral values and ranges.

Defined once here; the corpus renderer, the model's conditioning, the
expression_control node and the ExpressionControl message all use this order.
"""
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real


@dataclass(frozen=True)
class ControlSpec:
    name: str
    neutral: float
    low: float
    high: float
    doc: str


CONTROLS: tuple[ControlSpec, ...] = (
    ControlSpec("smile", 0.0, 0.0, 1.0, "mouth corners up, cheeks raised"),
    ControlSpec("frown", 0.0, 0.0, 1.0, "mouth corners down"),
    ControlSpec("brow_raise", 0.0, 0.0, 1.0, "both brows up (surprise, attention)"),
    ControlSpec("brow_furrow", 0.0, 0.0, 1.0, "brows down and together (anger, focus)"),
    ControlSpec("eye_open", 0.0, -1.0, 1.0, "lid opening relative to neutral (-1 closed, +1 wide)"),
    ControlSpec("eye_squint", 0.0, 0.0, 1.0, "lower lids raised"),
    ControlSpec("gaze_x", 0.0, -1.0, 1.0, "gaze left (-) / right (+), fraction of maximum"),
    ControlSpec("gaze_y", 0.0, -1.0, 1.0, "gaze up (-) / down (+), fraction of maximum"),
    ControlSpec("head_nod", 0.0, -1.0, 1.0, "head pitch, down (+) / up (-), fraction of maximum"),
    ControlSpec("head_tilt", 0.0, -1.0, 1.0, "head roll, fraction of maximum"),
)

NAMES: tuple[str, ...] = tuple(c.name for c in CONTROLS)
DIM = len(CONTROLS)
INDEX: dict[str, int] = {c.name: i for i, c in enumerate(CONTROLS)}


def neutral_vector() -> list[float]:
    return [c.neutral for c in CONTROLS]


def named_value(item: str, what: str) -> tuple[str, float]:
    """``"smile=0.6"`` -> ("smile", 0.6) for any control name; InputError naming ``what`` and
    the offending item otherwise."""
    from avatar.core.errors import InputError

    name, sep, value = item.partition("=")
    name = name.strip()
    if not sep or name not in INDEX:
        raise InputError(f"bad {what} {item.strip()!r}: use NAME=VALUE with NAME a control ({', '.join(NAMES)})")
    try:
        return name, float(value)
    except ValueError:
        raise InputError(f"bad {what} {item.strip()!r}: {value.strip()!r} is not a number") from None


def checked_control(name: str, value, warn: Callable[[str], None] | None = None) -> float:
    """``value`` for control ``name``, clamped to the control's range.

    The one rule set of the CLI, expression tracks and the nodes: InputError if the name is
    unknown or the value is not a finite number; a value outside the range is clamped and
    ``warn`` gets one line about it (default: stderr; nodes pass their throttled logger).
    """
    from avatar.core.errors import InputError
    if name not in INDEX:
        raise InputError(f"unknown control {name!r}")
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise InputError(f"{name}={value!r} is not a finite number")
    spec = CONTROLS[INDEX[name]]
    kept = min(spec.high, max(spec.low, float(value)))
    if kept != value:
        (warn or _to_stderr)(f"{name}={value!r} is outside [{spec.low:g}, {spec.high:g}]: clamped to {kept:g}")
    return kept


def control_vector(names, values, warn: Callable[[str], None] | None = None) -> list[float]:
    """Named values (an ExpressionControl message) -> a full control vector, unnamed controls
    neutral, each value through ``checked_control``."""
    from avatar.core.errors import InputError
    if len(names) != len(values):
        raise InputError(f"{len(names)} names but {len(values)} values")
    vector = neutral_vector()
    for name, value in zip(names, values):
        vector[INDEX[name]] = checked_control(name, value, warn)     # the name is checked first
    return vector


def _to_stderr(message: str) -> None:
    print(f"warning: expression control {message}", file=sys.stderr)


def parse_controls(text: str) -> list[float]:
    """``"smile=0.6,gaze_x=-0.3"`` -> a full control vector (unnamed controls neutral).

    Raises InputError with the offending part for unknown names and bad numbers; values
    outside a control's range are clamped with a warning (checked_control).
    """
    from avatar.core.errors import InputError

    vector = neutral_vector()
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, number = named_value(part, "expression control")
        try:
            vector[INDEX[name]] = checked_control(name, number)
        except InputError as err:
            raise InputError(f"expression control {err}") from None
    return vector
