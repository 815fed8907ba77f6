"""Per-level kernel sizes and dilations of the UNet, and which input sizes its depth can halve."""


def _descending(first: int, step: int, floor: int, count: int) -> list[int]:
    """`count` values: first, then each `step` below the one before, never below `floor`."""
    values = [first]
    while len(values) < count:
        values.append(max(floor, values[-1] - step))
    return values[:count]


def level_kernels(base_kernel: int, num_layers: int) -> list[int]:
    """Kernel size per level: base, base-2, ... never below 3 after the first level."""
    return _descending(base_kernel, 2, 3, num_layers)


def level_dilations(base_dilation: int, num_layers: int) -> list[int]:
    """Dilation per level: base, base-1, ... never below 1."""
    return _descending(base_dilation, 1, 1, num_layers)


def size_problem(size: int, num_layers: int) -> str | None:
    """Why `size` cannot be halved num_layers-1 times, or None when it can."""
    factor = 2 ** (num_layers - 1)
    if size % factor:
        lower, upper = (size // factor) * factor, (size // factor + 1) * factor
        options = " or ".join(str(v) for v in (lower, upper) if v > 0)
        return (
            f"expected a multiple of {factor} (num_layers = {num_layers} halves it "
            f"{num_layers - 1} times), got {size}; use {options}"
        )
    return None
