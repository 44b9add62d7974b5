"""A strict reader of crontab text, to check the cron files we ship and print."""

from __future__ import annotations

import re
from dataclasses import dataclass

FIELDS = [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
          ("day of week", 0, 7)]
NAMES = {
    3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
}
ENV_LINE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\s*=.*")
USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass
class Job:
    times: list[str]
    user: str | None
    command: str

    def matches(self, minute: int, hour: int) -> bool:
        """Whether the job runs at this time of day (every day)."""
        return minute in expand(self.times[0], 0, 59) and hour in expand(self.times[1], 0, 23)


def parse(text: str, with_user: bool = True) -> tuple[dict[str, str], list[Job]]:
    """Environment assignments and jobs; raise ValueError naming the line at the first fault."""
    env: dict[str, str] = {}
    jobs: list[Job] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if ENV_LINE.fullmatch(stripped) and not stripped[0].isdigit() and not stripped.startswith("*"):
            name, value = stripped.split("=", 1)
            env[name.strip()] = value.strip()
            continue
        jobs.append(_job(stripped, with_user, number))
    return env, jobs


def _job(line: str, with_user: bool, number: int) -> Job:
    parts = line.split(None, 6 if with_user else 5)
    if len(parts) != (7 if with_user else 6):
        raise ValueError(f"line {number}: expected 5 time fields, {'a user, ' if with_user else ''}a command")
    for i, (name, low, high) in enumerate(FIELDS):
        try:
            expand(parts[i], low, high, NAMES.get(i))
        except ValueError as exc:
            raise ValueError(f"line {number}: {name} {parts[i]!r}: {exc}") from None
    user = parts[5] if with_user else None
    if user is not None and not USER.fullmatch(user):
        raise ValueError(f"line {number}: bad user {user!r}")
    command = parts[-1]
    if re.search(r"(?<!\\)%", command):
        raise ValueError(f"line {number}: unescaped % (cron turns it into a newline)")
    return Job(parts[:5], user, command)


def expand(field: str, low: int, high: int, names: list[str] | None = None) -> set[int]:
    """The values a time field stands for; ValueError when out of range or malformed."""
    values: set[int] = set()
    for item in field.split(","):
        match = re.fullmatch(r"(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?", item.lower())
        if not match:
            raise ValueError("malformed")
        span, step = match[1], int(match[2] or 1)
        if step < 1:
            raise ValueError("step must be at least 1")
        if span == "*":
            first, last = low, high
        else:
            ends = [_value(v, low, high, names) for v in span.split("-")]
            first, last = ends[0], ends[-1]
            if first > last:
                raise ValueError("range runs backwards")
        values.update(range(first, last + 1, step))
    return values


def _value(text: str, low: int, high: int, names: list[str] | None) -> int:
    if names and text in names:
        return names.index(text) + (1 if low == 1 else 0)
    if not text.isdigit():
        raise ValueError(f"not a number: {text!r}")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{value} outside {low}-{high}")
    return value
