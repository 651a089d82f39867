"""2-D toy data sets, each drawn from a key and a count (float32 arrays of shape (n, 2))."""

import jax
import jax.numpy as jnp

from .._typing import Array, Float, PRNGKeyArray


def two_moons(key: PRNGKeyArray, n: int, noise: float = 0.05) -> Float[Array, "n 2"]:
    """Two interleaving half circles, roughly centred and scaled to unit spread.

    Args:
        key: draws the points.
        n: how many points.
        noise: standard deviation of the Gaussian noise added to each point.

    Returns:
        float32 points, shape ``(n, 2)``.
    """
    k_side, k_angle, k_noise = jax.random.split(key, 3)
    upper = jax.random.bernoulli(k_side, 0.5, (n,))
    angle = jax.random.uniform(k_angle, (n,), maxval=jnp.pi)
    x = jnp.where(upper, jnp.cos(angle), 1.0 - jnp.cos(angle))
    y = jnp.where(upper, jnp.sin(angle), 0.5 - jnp.sin(angle))
    points = jnp.stack([x, y], axis=1) + noise * jax.random.normal(k_noise, (n, 2))
    return (points - jnp.array([0.5, 0.25])) * 2.0


def gaussian_mixture(
    key: PRNGKeyArray, n: int, num_modes: int = 8, radius: float = 3.0, std: float = 0.3
) -> Float[Array, "n 2"]:
    """``num_modes`` Gaussians evenly spaced on a circle of ``radius``.

    Args:
        key: draws the points.
        n: how many points.
        num_modes: how many Gaussians (each point picks one uniformly).
        radius: radius of the circle of centres.
        std: standard deviation of each Gaussian.

    Returns:
        float32 points, shape ``(n, 2)``.
    """
    k_mode, k_noise = jax.random.split(key)
    mode = jax.random.randint(k_mode, (n,), 0, num_modes)
    angle = 2 * jnp.pi * mode.astype(jnp.float32) / num_modes
    centres = radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)
    return centres + std * jax.random.normal(k_noise, (n, 2))


def checkerboard(key: PRNGKeyArray, n: int) -> Float[Array, "n 2"]:
    """Uniform on the black squares of a 4x4 board covering [-4, 4]^2 (as in FFJORD).

    Args:
        key: draws the points.
        n: how many points.

    Returns:
        float32 points, shape ``(n, 2)``.
    """
    k_x, k_y, k_row = jax.random.split(key, 3)
    x1 = jax.random.uniform(k_x, (n,), minval=-2.0, maxval=2.0)
    row = jax.random.randint(k_row, (n,), 0, 2).astype(jnp.float32)
    x2 = jax.random.uniform(k_y, (n,)) - 2.0 * row
    x2 = x2 + jnp.floor(x1) % 2
    return 2.0 * jnp.stack([x1, x2], axis=1)


def circles(key: PRNGKeyArray, n: int, noise: float = 0.08) -> Float[Array, "n 2"]:
    """Two concentric circles of radii 1 and 2.5.

    Args:
        key: draws the points.
        n: how many points.
        noise: standard deviation of the Gaussian noise added to each point.

    Returns:
        float32 points, shape ``(n, 2)``.
    """
    k_ring, k_angle, k_noise = jax.random.split(key, 3)
    radius = jnp.where(jax.random.bernoulli(k_ring, 0.5, (n,)), 1.0, 2.5)
    angle = jax.random.uniform(k_angle, (n,), maxval=2 * jnp.pi)
    points = radius[:, None] * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)
    return points + noise * jax.random.normal(k_noise, (n, 2))


TOY_DATASETS = {
    "moons": two_moons,
    "gaussian-mixture": gaussian_mixture,
    "checkerboard": checkerboard,
    "circles": circles,
}
"""The 2-D toys by name: ``TOY_DATASETS[name](key, n)`` draws ``n`` points, shape ``(n, 2)``."""
