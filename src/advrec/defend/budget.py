"""The defender's assumption about the attack's size, shared by the filters that flag a fixed number."""

from __future__ import annotations

from advrec.errors import ConfigError


def expected_fakes(n_users: int, size: float) -> int:
    """Fake users among ``n_users`` poisoned-train users when fakes are ``size`` × the real users."""
    if not 0 < size <= 1:
        raise ConfigError(f"--size {size}: expected a share of real users in (0, 1]")
    return n_users - int(round(n_users / (1.0 + size)))
