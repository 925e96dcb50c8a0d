"""The one rule deciding when too many rows went wrong: ``max_<what>`` (a count) and ``max_<what>_ratio``.

Every place that applies a threshold calls :func:`exceeded_limits` (or :func:`check_threshold`): the delivery
engine, ``SqlToEventsOperator`` and every vendor operator built on it, the Act-On upload operator and the
Act-On job sensor. The same rule serves any counter (``rejected`` today; ``in_doubt`` can use it with
``name="in_doubt"``).

The rule:

- neither limit given: the default, :data:`DEFAULT_MAX_RATIO` (0: any such row fails the task);
- only ``max_count`` given: the count governs;
- only ``max_ratio`` given: the ratio governs (count / total);
- both given: either exceeded fails. A ratio of 0 next to a count is ignored (the count governs), as it
  always was for ``SqlToEventsOperator``.

Why 0 by default: a rejected row is a data error the task owner must see. The valid rows are delivered
either way (the threshold is checked after delivery) and the rejected ones are in the rejects file, so a
failed task loses nothing; a green task that silently dropped rows would.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_events.exceptions import ConfigurationError

#: the ratio applied when neither ``max_<what>`` nor ``max_<what>_ratio`` is given: 0, any such row fails.
DEFAULT_MAX_RATIO = 0.0


@dataclass(frozen=True)
class Threshold:
    """Limits on one counter, resolved by the rule above (``None``: that limit does not apply).

    :param max_count: most rows tolerated.
    :param max_ratio: most rows tolerated as a fraction of the total (0..1).
    :param name: the counter (``rejected``), naming the arguments in messages (``max_rejected``).
    """

    max_count: int | None
    max_ratio: float | None
    name: str = "rejected"

    @classmethod
    def resolve(cls, max_count: int | None, max_ratio: float | None, *, name: str = "rejected") -> Threshold:
        """Apply the defaults of the rule to the arguments as given (``None``: not given)."""
        if max_count is not None and max_count < 0:
            raise ConfigurationError(f"max_{name} must not be negative, got {max_count}")
        if max_ratio is not None and not 0 <= max_ratio <= 1:
            raise ConfigurationError(f"max_{name}_ratio must be between 0 and 1, got {max_ratio:g}")
        if max_count is None and max_ratio is None:
            return cls(None, DEFAULT_MAX_RATIO, name)
        if max_count is not None and max_ratio == 0:
            return cls(max_count, None, name)
        return cls(max_count, max_ratio, name)

    def exceeded(self, count: int, total: int) -> list[str]:
        """The limits ``count`` of ``total`` exceeds, as ``["max_rejected=0", ...]`` (empty: within)."""
        over = []
        if self.max_count is not None and count > self.max_count:
            over.append(f"max_{self.name}={self.max_count}")
        ratio = count / total if total else 0.0
        if self.max_ratio is not None and count and ratio > self.max_ratio:
            over.append(f"max_{self.name}_ratio={self.max_ratio:g}")
        return over


def exceeded_limits(
    count: int,
    total: int,
    max_count: int | None,
    max_ratio: float | None,
    *,
    name: str = "rejected",
) -> list[str]:
    """The limits exceeded by ``count`` of ``total`` under the rule above (empty list: within them).

    :param count: the rows counted (e.g. rejected).
    :param total: what the ratio divides by (rows read; for Act-On files, appended + rejected).
    :param max_count: ``max_<name>`` as given (``None``: not given).
    :param max_ratio: ``max_<name>_ratio`` as given (``None``: not given).
    :param name: the counter's name, used in the limits' names.
    """
    return Threshold.resolve(max_count, max_ratio, name=name).exceeded(count, total)


def describe(count: int, total: int, limits: list[str], *, name: str = "rejected") -> str:
    """``"3 of 10 rows rejected (30.00%), over max_rejected=1"``: the message of an exceeded threshold."""
    ratio = count / total if total else 0.0
    return f"{count} of {total} rows {name.replace('_', ' ')} ({ratio:.2%}), over {' and '.join(limits)}"
